"""The audit log is a hash chain: verify_audit finds a changed row; Postgres refuses changes."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from approvals.services import decide
from console.kernel.models import AuditEvent
from tests.support.runs import waiting_refund

pytestmark = pytest.mark.django_db(transaction=True)


def _some_events(engineer: Any, reviewer: Any) -> list[AuditEvent]:
    _, request = waiting_refund(engineer)
    decide(request.id, reviewer, "reject", comment="no", reason_code="policy")
    events = list(AuditEvent.objects.order_by("id"))
    assert len(events) >= 2
    return events


def test_chain_links_every_row_and_verifies(engineer: Any, reviewer: Any) -> None:
    """Each row stores the previous row's hash and its own; verify_audit says the chain is intact."""
    events = _some_events(engineer, reviewer)
    assert events[0].prev_hash == ""
    for before, after in zip(events, events[1:], strict=False):
        assert after.prev_hash == before.hash
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert f"audit chain intact: {len(events)} rows" in out.getvalue()


@pytest.mark.postgres
def test_postgres_refuses_update_and_delete(engineer: Any, reviewer: Any) -> None:
    """The trigger refuses UPDATE and DELETE of audit rows."""
    event = _some_events(engineer, reviewer)[0]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(id=event.id).update(action="approval.approve")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(id=event.id).delete()


def test_verify_audit_names_the_first_tampered_row(engineer: Any, reviewer: Any) -> None:
    """Someone with the power to bypass the trigger edits a row: verify_audit exits non-zero naming it."""
    events = _some_events(engineer, reviewer)
    target = events[1]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE approvals_auditevent DISABLE TRIGGER approvals_auditevent_append_only")
        try:
            cursor.execute("UPDATE approvals_auditevent SET data = %s WHERE id = %s", ['{"comment": "yes"}', target.id])
        finally:
            if connection.vendor == "postgresql":
                cursor.execute("ALTER TABLE approvals_auditevent ENABLE TRIGGER approvals_auditevent_append_only")
    with pytest.raises(CommandError, match=f"audit row {target.id} .* is broken: its content does not match its hash"):
        call_command("verify_audit")


def test_verify_audit_reports_rows_written_with_secrets_and_leaves_them(engineer: Any, reviewer: Any) -> None:
    """Rows written before audit data was redacted cannot be rewritten (the chain and the trigger
    forbid it): `verify_audit --secrets` names them, changes nothing, and the chain stays intact."""
    _some_events(engineer, reviewer)
    clean = StringIO()
    call_command("verify_audit", "--secrets", stdout=clean)
    assert "no audit row holds a secret" in clean.getvalue()
    # A row as an older Steward wrote it: chained correctly, its data not redacted.
    previous = AuditEvent.objects.order_by("-id").first()
    assert previous is not None
    old = AuditEvent(
        at=previous.at, action="approval.reject", object_type="approvals.approvalrequest", object_id="x",
        data={"comment": "card 4111 1111 1111 1111, key sk-live-" + "a" * 24}, prev_hash=previous.hash,
    )
    old.hash = old.content_hash()
    old.save(force_insert=True)
    with pytest.raises(CommandError) as found:
        call_command("verify_audit", "--secrets", stdout=StringIO())
    assert f"audit row {old.id} (approval.reject" in str(found.value) and "card, openai_key" in str(found.value)
    assert "4111" not in str(found.value), "the report must not repeat the secret"
    assert AuditEvent.objects.get(id=old.id).data == old.data
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "audit chain intact" in out.getvalue()
