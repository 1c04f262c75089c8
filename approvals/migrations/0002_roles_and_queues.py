"""The three role groups and the default queues (`default`, and the demo's `payments`)."""

from django.db import migrations


def create(apps, schema_editor):  # type: ignore[no-untyped-def]
    from approvals.defaults import ensure_defaults

    ensure_defaults(apps.get_model("auth", "Group"), apps.get_model("approvals", "Queue"))


class Migration(migrations.Migration):
    dependencies = [("approvals", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
