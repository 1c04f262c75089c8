"""Run.span_count (`spans` in the totals): the number of recorded spans, stored when the run stops like its other totals.

Runs from before it get the count of their spans as they are now (a run whose spans retention
already deleted gets 0, which is also what its /steps returns)."""

from django.db import migrations, models
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce


def count_spans(apps, schema_editor):
    Run = apps.get_model("agents", "Run")
    Span = apps.get_model("traces", "Span")
    counted = Span.objects.filter(run=OuterRef("pk")).order_by().values("run").annotate(n=Count("id")).values("n")
    Run.objects.update(span_count=Coalesce(Subquery(counted, output_field=models.PositiveIntegerField()), 0))


class Migration(migrations.Migration):

    dependencies = [
        ("agents", "0009_run_finished_index"),
        ("traces", "0004_sealed_values"),
    ]

    operations = [
        migrations.AddField(
            model_name="run",
            name="span_count",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(count_spans, migrations.RunPython.noop),
    ]
