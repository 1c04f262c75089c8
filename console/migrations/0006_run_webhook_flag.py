"""Runs created through the LangGraph API with a webhook now say so in their metadata
(agents/engine/graph_call.py `GraphCall.webhook`): the worker sends the webhook only for runs that
say so, so runs that have not ended yet when this is deployed are marked here."""

from django.db import migrations

ACTIVE = ("queued", "running", "waiting")


def mark_webhook_runs(apps, schema_editor):
    SdkRun = apps.get_model("console", "SdkRun")
    Run = apps.get_model("agents", "Run")
    ids = [
        sdk.run_id
        for sdk in SdkRun.objects.filter(run__status__in=ACTIVE).only("run_id", "kwargs").iterator()
        if (sdk.kwargs or {}).get("webhook")
    ]
    for run in Run.objects.filter(id__in=ids).only("id", "metadata"):
        metadata = dict(run.metadata or {})
        call = dict(metadata.get("graph_call") or {})
        call["webhook"] = True
        metadata["graph_call"] = call
        Run.objects.filter(id=run.id).update(metadata=metadata)


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0005_langgraph_store_tables"),
        ("agents", "0013_run_fk_indexes"),
    ]

    operations = [migrations.RunPython(mark_webhook_runs, migrations.RunPython.noop)]
