"""LangGraph's store tables (agents/engine/store.py), in the same database as everything else."""

from django.db import migrations


def create_store_tables(apps, schema_editor):  # type: ignore[no-untyped-def]
    from agents.engine.store import setup_store

    setup_store(schema_editor.connection.settings_dict, schema_editor.connection.vendor)


class Migration(migrations.Migration):
    # PostgresStore.setup() may create indexes concurrently, which cannot run in a transaction.
    atomic = False

    dependencies = [("console", "0004_langgraph_crons")]

    operations = [migrations.RunPython(create_store_tables, migrations.RunPython.noop)]
