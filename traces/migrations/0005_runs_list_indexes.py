"""The runs list's `model=` filter: each run's model calls by model name, from the index alone (issue 20)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('agents', '0011_runs_list_indexes'),
        ('traces', '0004_sealed_values'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='span',
            index=models.Index(condition=models.Q(('kind', 'model')), fields=['run', 'model'], name='span_run_model'),
        ),
    ]
