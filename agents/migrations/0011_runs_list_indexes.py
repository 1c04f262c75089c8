"""Indexes for the runs list's sorts and filters at volume (issue 20): cost, node time and steps
sorts, started by, has an error; and on Postgres a GIN index on metadata's tags for `tag=`
(the filter is `metadata -> 'tags' @> '["vip"]'`)."""

from django.conf import settings
from django.db import migrations, models

CREATE_TAGS = "CREATE INDEX IF NOT EXISTS run_tags ON agents_run USING gin ((metadata -> 'tags'))"


def create_tags(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE_TAGS, params=None)


def drop_tags(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS run_tags", params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('agents', '0010_run_span_count'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name='run',
            index=models.Index(fields=['-cost', '-id'], name='run_cost'),
        ),
        migrations.AddIndex(
            model_name='run',
            index=models.Index(fields=['-latency_ms', '-id'], name='run_latency'),
        ),
        migrations.AddIndex(
            model_name='run',
            index=models.Index(fields=['-steps', '-id'], name='run_steps'),
        ),
        migrations.AddIndex(
            model_name='run',
            index=models.Index(fields=['created_by', '-created_at'], name='run_creator_created'),
        ),
        migrations.AddIndex(
            model_name='run',
            index=models.Index(condition=models.Q(('error', ''), _negated=True), fields=['-created_at', '-id'], name='run_error_created'),
        ),
        migrations.RunPython(create_tags, drop_tags),
    ]
