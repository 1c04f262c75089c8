"""Signals other parts of Steward hook into, so the run engine names none of them."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.dispatch import Signal

__all__ = ["announce_run_stopped", "run_stopped"]

log = logging.getLogger(__name__)

# Sent after the commit that moved a run to `waiting`, `succeeded` or `failed` (by a worker, or
# by the sweeper when a run used up its attempts). Arguments: run_id (UUID), status (str), and
# thread_id (str) when the sender has the run at hand (receivers then need not look it up); and,
# when known, runs_waiting (bool: runs of the thread are queued behind it) and metadata (the
# run's metadata dict), so that a receiver with nothing to do for the run asks the database nothing.
# Receivers run in the worker: they must be quick; one that raises is logged, not propagated.
run_stopped = Signal()


def announce_run_stopped(
    run_id: uuid.UUID,
    status: str,
    thread_id: str | None = None,
    *,
    runs_waiting: bool | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Send `run_stopped`; call it from `transaction.on_commit`."""
    sent = run_stopped.send_robust(
        sender=None, run_id=run_id, status=status, thread_id=thread_id, runs_waiting=runs_waiting, metadata=metadata
    )
    for receiver, result in sent:
        if isinstance(result, Exception):
            log.warning("run %s: run_stopped receiver %s failed: %s", run_id, receiver, result)
