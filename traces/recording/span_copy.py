"""Copy a run's spans to another run: a recorded replay's trace is the original's.

Each copy gets a new id (its parent the copy of the original's parent) and keeps everything else:
order, kind, name, status, timings, redacted payloads, tokens, cost, the checkpoint id that saved
it (the replay's thread holds the same checkpoint ids) and the step. A sealed original is bound to
its span's id (traces/recording/writer.py), so it is opened with the old id and sealed again for
the new one.
"""

from __future__ import annotations

import uuid

from django.db import connection

from console.kernel.errors import Conflict
from console.kernel.sealing import SealError, open_json, seal_json
from traces.recording.models import Span

__all__ = ["copy_spans"]


def copy_spans(source_run_id: uuid.UUID, target_run_id: uuid.UUID, from_step: int | None = None) -> int:
    """Copy the spans of `source_run_id` (those of steps from `from_step` on, if given) to
    `target_run_id`; call inside the transaction that creates the target run.

    Returns:
        How many spans were copied.

    Raises:
        Conflict: a sealed value does not open with this Steward's keys.
    """
    spans = Span.objects.filter(run_id=source_run_id)
    if from_step is not None:
        spans = spans.filter(step__gte=from_step)
    # Only what changes is read here: ids, parents and sealed values. The payloads go from row to
    # row inside Postgres (a recorded replay's copy was mostly decoding and encoding them).
    rows = list(spans.order_by("seq").values_list("id", "parent_id", "sealed"))
    new_ids = {old: uuid.uuid4() for old, _, _ in rows}
    mapping = [
        (old, new_ids[old], new_ids.get(parent) if parent is not None else None, _resealed(old, sealed, new_ids[old]))
        for old, parent, sealed in rows
    ]
    if not mapping:
        return 0
    if connection.vendor == "postgresql":
        _copy_in_postgres(mapping, target_run_id)
    else:
        _copy_through_python(mapping, target_run_id)
    return len(mapping)


def _copy_in_postgres(mapping: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID | None, bytes | None]], target_run_id: uuid.UUID) -> None:
    """One INSERT ... SELECT: every column as the original's, but the id, run, parent and seal."""
    replaced = {"id": "m.new_id", "run_id": "%s", "parent_id": "m.new_parent", "sealed": "m.new_sealed"}
    columns = [field.column for field in Span._meta.concrete_fields]
    values = ", ".join(replaced.get(column, f"s.{connection.ops.quote_name(column)}") for column in columns)
    table = connection.ops.quote_name(Span._meta.db_table)
    olds, news, parents, sealed = (list(part) for part in zip(*mapping, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(connection.ops.quote_name(c) for c in columns)}) "
            f"SELECT {values} FROM {table} s "
            "JOIN unnest(%s::uuid[], %s::uuid[], %s::uuid[], %s::bytea[]) AS m(old_id, new_id, new_parent, new_sealed) "
            "ON s.id = m.old_id",
            [target_run_id, olds, news, parents, sealed],
        )


def _copy_through_python(mapping: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID | None, bytes | None]], target_run_id: uuid.UUID) -> None:
    by_old = {old: (new, parent, sealed) for old, new, parent, sealed in mapping}
    copies = []
    for span in Span.objects.filter(id__in=list(by_old)):
        span.id, span.parent_id, span.sealed = by_old[span.id]
        span.run_id = target_run_id
        copies.append(span)
    Span.objects.bulk_create(copies)


def _resealed(old_id: uuid.UUID, sealed: bytes | memoryview | None, new_id: uuid.UUID) -> bytes | None:
    if sealed is None:
        return None
    try:
        originals = open_json(bytes(sealed), old_id.bytes)
    except SealError as exc:
        kind, name = Span.objects.filter(id=old_id).values_list("kind", "name").get()
        raise Conflict(
            f"the recorded {kind} call {name!r} holds secrets sealed with another encryption key ({exc}): "
            "restore the key (STEWARD_ENCRYPTION_KEY or SECRET_KEY_FALLBACKS), or replay it live"
        ) from None
    return seal_json(originals, new_id.bytes)
