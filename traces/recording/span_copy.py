"""Copy a run's spans to another run: a recorded replay's trace is the original's.

Each copy gets a new id (its parent the copy of the original's parent) and keeps everything else:
order, kind, name, status, timings, redacted payloads, tokens, cost, the checkpoint id that saved
it (the replay's thread holds the same checkpoint ids) and the step. A sealed original is bound to
its span's id (traces/recording/writer.py), so it is opened with the old id and sealed again for
the new one.
"""

from __future__ import annotations

import uuid

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
    spans = list(Span.objects.filter(run_id=source_run_id).order_by("seq"))
    if from_step is not None:
        spans = [s for s in spans if s.step is not None and s.step >= from_step]
    new_ids = {span.id: uuid.uuid4() for span in spans}
    copies = []
    for span in spans:
        new_id = new_ids[span.id]
        span.sealed = _resealed(span, new_id)
        span.id, span.run_id = new_id, target_run_id
        span.parent_id = new_ids.get(span.parent_id) if span.parent_id is not None else None
        copies.append(span)
    Span.objects.bulk_create(copies)
    return len(copies)


def _resealed(span: Span, new_id: uuid.UUID) -> bytes | None:
    if span.sealed is None:
        return None
    try:
        originals = open_json(bytes(span.sealed), span.id.bytes)
    except SealError as exc:
        raise Conflict(
            f"the recorded {span.kind} call {span.name!r} holds secrets sealed with another encryption key ({exc}): "
            "restore the key (STEWARD_ENCRYPTION_KEY or SECRET_KEY_FALLBACKS), or replay it live"
        ) from None
    return seal_json(originals, new_id.bytes)
