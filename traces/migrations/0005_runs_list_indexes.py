"""The runs list's `model=` filter: model calls by model name and run, a probe per run for a common model and the runs of a rare one (issue 20)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('agents', '0011_runs_list_indexes'),
        ('traces', '0004_sealed_values'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='span',
            index=models.Index(condition=models.Q(('kind', 'model')), fields=['model', 'run'], name='span_model_run'),
        ),
    ]
