"""The append-only audit log: every row chains to the one before it by hash.

Appends are serialized (a transaction-scoped advisory lock on Postgres; SQLite serializes
writers already), so the chain is a line even with many writers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import connection
from django.utils import timezone

from console.kernel.models import AuditEvent
from console.kernel.redaction import MARKER_PREFIX, redact, redacted
from console.kernel.serialize import to_jsonable

__all__ = ["record", "rows_with_secrets", "verify"]

# Any constant works: it names the one lock every audit append takes.
_AUDIT_LOCK = 7_310_221


def record(actor: Any, action: str, obj: Any, **data: Any) -> AuditEvent:
    """Append an event about `obj` (inside the caller's transaction)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_AUDIT_LOCK])
            # A statement of its own, after the lock is held: it sees the row the last holder
            # appended. Hand-written: every audited write makes it, and the ORM took longer to
            # build it than Postgres took to answer.
            cursor.execute(f"SELECT hash FROM {AuditEvent._meta.db_table} ORDER BY id DESC LIMIT 1")
            last = cursor.fetchone()
        previous = last[0] if last is not None else ""
    else:
        previous = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first() or ""
    event = AuditEvent(
        at=timezone.now(),
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        object_type=type(obj)._meta.label_lower,
        object_id=str(obj.pk),
        # An audit trail is read and exported: secrets in edited args or comments stay out.
        data=redact(to_jsonable(data)),
        prev_hash=previous,
    )
    event.hash = event.content_hash()
    event.save(force_insert=True)
    return event


def verify(chunk_size: int = 2000) -> Iterator[tuple[AuditEvent, str]]:
    """Yield (row, what is wrong) for every row that breaks the chain, in order."""
    previous = ""
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=chunk_size):
        if event.prev_hash != previous:
            yield event, "its prev_hash does not match the row before it (a row was changed, removed or inserted)"
        elif event.hash != event.content_hash():
            yield event, "its content does not match its hash (the row was changed)"
        previous = event.hash


def rows_with_secrets(chunk_size: int = 2000) -> Iterator[tuple[AuditEvent, list[str]]]:
    """Yield (row, the kinds of secret found) for every row whose data `redact` would change:
    rows written before audit data was redacted. They are reported, never rewritten: a changed
    row breaks its hash and every later row's link, and Postgres refuses the UPDATE anyway."""
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=chunk_size):
        clean, changed = redacted(event.data)
        if changed:
            yield event, _marker_kinds(clean)


def _marker_kinds(value: Any) -> list[str]:
    text = str(value)
    kinds = {part.split("]", 1)[0] for part in text.split(MARKER_PREFIX)[1:]}
    return sorted(kinds)
