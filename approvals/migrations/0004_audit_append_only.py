"""On Postgres the database itself refuses UPDATE and DELETE of audit rows."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION steward_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % of approvals_auditevent refused', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER approvals_auditevent_append_only
    BEFORE UPDATE OR DELETE ON approvals_auditevent
    FOR EACH ROW EXECUTE FUNCTION steward_audit_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS approvals_auditevent_append_only ON approvals_auditevent;
DROP FUNCTION IF EXISTS steward_audit_append_only();
"""


def create(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("approvals", "0003_queue_policies_notifications_audit_chain")]

    operations = [migrations.RunPython(create, drop)]
