"""LangGraph's checkpoint tables, in the same database as everything else."""

from django.db import migrations


def create_checkpoint_tables(apps, schema_editor):  # type: ignore[no-untyped-def]
    from agents.engine.checkpointer import setup_checkpointer

    setup_checkpointer(schema_editor.connection.settings_dict, schema_editor.connection.vendor)


class Migration(migrations.Migration):
    # PostgresSaver.setup() runs CREATE INDEX CONCURRENTLY, which cannot run in a transaction.
    atomic = False

    dependencies = [("agents", "0001_initial")]

    operations = [migrations.RunPython(create_checkpoint_tables, migrations.RunPython.noop)]
