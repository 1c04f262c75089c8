import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("agents", "0007_run_pruned_at"),
        ("traces", "0003_span_prompt_version"),
    ]

    operations = [
        migrations.AddField(
            model_name="span",
            name="sealed",
            field=models.BinaryField(blank=True, editable=False, null=True),
        ),
        migrations.CreateModel(
            name="SealedRunInput",
            fields=[
                (
                    "run",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="agents.run",
                    ),
                ),
                ("sealed", models.BinaryField()),
            ],
        ),
    ]
