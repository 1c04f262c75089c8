"""Runs remember when retention pruned their spans and checkpoints (traces/retention.py)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("agents", "0006_prompts"),
    ]

    operations = [
        migrations.AddField(
            model_name="run",
            name="pruned_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="run",
            name="pruned_after_days",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
    ]
