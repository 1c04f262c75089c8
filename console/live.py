"""The only path from sync code to browsers: publish an event once the transaction commits.

The websocket is a hint and the database is the truth: an event says what changed, pages
re-read from the database. A failure to publish never fails the write that caused it.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

__all__ = ["APPROVALS_GROUP", "RUNS_GROUP", "publish", "publish_run", "run_group"]

log = logging.getLogger(__name__)
APPROVALS_GROUP = "approvals"
RUNS_GROUP = "runs"


def run_group(run_id: uuid.UUID | str) -> str:
    return f"run-{run_id}"


def _send(group: str, event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": "steward.event", **event})
    except Exception:  # noqa: BLE001 - live updates are best effort by design
        log.warning("could not publish %s to %s", event.get("kind"), group, exc_info=True)


def publish(group: str, event: dict[str, Any]) -> None:
    """Send `event` to `group` after the current transaction commits (now, outside one)."""
    transaction.on_commit(lambda: _send(group, event))


def publish_run(run_id: uuid.UUID | str, status: str) -> None:
    event = {"kind": "run", "run_id": str(run_id), "status": status}
    publish(run_group(run_id), event)
    publish(RUNS_GROUP, event)
