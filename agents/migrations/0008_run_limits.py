"""Run limits (agents/limits.py): the effective limits, their breaches and the time workers spent
on each run; and the `budget` queue where runs paused over a limit wait for a decision."""

from django.db import migrations, models


def create_budget_queue(apps, schema_editor):  # type: ignore[no-untyped-def]
    from approvals.defaults import QUEUES

    Group = apps.get_model("auth", "Group")
    Queue = apps.get_model("approvals", "Queue")
    queue, created = Queue.objects.get_or_create(name="budget", defaults={"description": QUEUES["budget"]})
    if created:
        queue.reviewer_groups.add(Group.objects.get_or_create(name="reviewers")[0])


class Migration(migrations.Migration):

    dependencies = [
        ("agents", "0007_run_pruned_at"),
        ("approvals", "0002_roles_and_queues"),
    ]

    operations = [
        migrations.AddField(
            model_name="run",
            name="limits",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="run",
            name="limit_breaches",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="run",
            name="active_seconds",
            field=models.FloatField(default=0.0),
        ),
        migrations.RunPython(create_budget_queue, migrations.RunPython.noop),
    ]
