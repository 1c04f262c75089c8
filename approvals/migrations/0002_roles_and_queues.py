"""The three role groups and the default queues (`default`, and the demo's `payments`)."""

from django.db import migrations

ROLES = ("reviewers", "engineers", "admins")
QUEUES = {
    "default": "Gated actions whose agent names no queue.",
    "payments": "Refunds and other payments: one approval from the reviewers group.",
}


def create(apps, schema_editor):  # type: ignore[no-untyped-def]
    Group = apps.get_model("auth", "Group")
    Queue = apps.get_model("approvals", "Queue")
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in ROLES}
    for name, description in QUEUES.items():
        queue, _ = Queue.objects.get_or_create(name=name, defaults={"description": description})
        queue.reviewer_groups.add(groups["reviewers"])


class Migration(migrations.Migration):
    dependencies = [("approvals", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
