"""Full-text search over a run's input, output and error (Postgres): a GIN index on the same
expression the runs list filters with (agents/run_filters.py SEARCH_SQL)."""

from django.db import migrations

CREATE = (
    "CREATE INDEX IF NOT EXISTS run_search ON agents_run USING gin ("
    "to_tsvector('simple', input::text || ' ' || coalesce(output::text, '') || ' ' || error))"
)


def create(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS run_search", params=None)


class Migration(migrations.Migration):
    dependencies = [("agents", "0003_drop_lease_index")]

    operations = [migrations.RunPython(create, drop)]
