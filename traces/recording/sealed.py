"""A run's input: stored redacted for people, sealed as submitted for the worker.

`Run.input` is what pages, the API and exports show, so it is redacted when the run is created.
The graph must start from the input as it was submitted, so when redaction changed it the
original is sealed in a SealedRunInput row (console/kernel/sealing.py) written in the same transaction;
the runtime asks `run_input(run)` for it, and a replay copies the row to its new run.
"""

from __future__ import annotations

import uuid
from typing import Any

from console.kernel.errors import Conflict
from console.kernel.redaction import MARKER_PREFIX, redacted
from console.kernel.sealing import SealError, open_json, seal_json
from traces.recording.models import SealedRunInput

__all__ = ["copy_sealed_input", "run_input", "seal_run_input"]


def _context(run_id: uuid.UUID | str) -> bytes:
    return uuid.UUID(str(run_id)).bytes


def seal_run_input(run_id: uuid.UUID, data: Any) -> Any:
    """The input to store on the new run `run_id` (redacted). When redaction changed it, seals the
    original for the worker; call inside the transaction that creates the run."""
    clean, changed = redacted(data)
    if changed:
        SealedRunInput.objects.create(run_id=run_id, sealed=seal_json(data, _context(run_id)))
    return clean


def run_input(run: Any) -> Any:
    """The run's input as submitted: the sealed original if there is one, else Run.input.

    Raises:
        console.kernel.sealing.SealError: the original was sealed with a key this Steward no longer has.
    """
    # Only a redacted input can have a sealed original: most runs cost no query here.
    if MARKER_PREFIX not in repr(run.input):
        return run.input
    row = SealedRunInput.objects.filter(run_id=run.id).first()
    return run.input if row is None else open_json(row.sealed, _context(run.id))


def copy_sealed_input(source_id: uuid.UUID, target_id: uuid.UUID) -> None:
    """Give a replay the original's sealed input (re-sealed for the new run).

    Raises:
        Conflict: the original's input was sealed with a key this Steward no longer has.
    """
    row = SealedRunInput.objects.filter(run_id=source_id).first()
    if row is None:
        return
    try:
        original = open_json(row.sealed, _context(source_id))
    except SealError as exc:
        raise Conflict(
            f"this run's input holds secrets sealed with another encryption key ({exc}): it cannot be replayed "
            "until that key is configured again (STEWARD_ENCRYPTION_KEY or SECRET_KEY_FALLBACKS)"
        ) from None
    SealedRunInput.objects.create(run_id=target_id, sealed=seal_json(original, _context(target_id)))
