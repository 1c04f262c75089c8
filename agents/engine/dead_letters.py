"""The dead-letter list: runs that failed after every retry and fallback, or that the sweeper
gave up on, waiting for an engineer to retry or dismiss them.

A run lands here when `agents.engine.signals.run_stopped` says it failed (connected in
console/apps.py); landing notifies (a signed `run.dead_lettered` webhook to webhooks not tied
to a queue, an email to engineers and admins: approvals/notifications.py). The list shows open
entries whose run is still failed: a run retried from its own page leaves the list, and comes
back (counted again) if it fails again.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse

from agents.engine.hooks import approvals
from agents.engine.models import DeadLetter, Run
from console.kernel import audit
from console.kernel.cursors import decode_cursor, encode_cursor
from console.kernel.errors import Conflict, NotFound

__all__ = [
    "PAGE_SIZE", "DeadLetterPage", "as_dict", "dismiss", "get_open", "land", "listed", "on_run_stopped", "open_count",
    "page",
]

log = logging.getLogger(__name__)

PAGE_SIZE = 50


def on_run_stopped(sender: Any, run_id: uuid.UUID, status: str, **kwargs: Any) -> None:
    """`run_stopped` receiver: a failed run lands in the list (and its notifications go out)."""
    if status == Run.Status.FAILED:
        land(run_id)


def land(run_id: uuid.UUID, now: datetime | None = None) -> DeadLetter | None:
    """Put the failed run in the list and notify; None if it is no longer failed (retried meanwhile)."""
    run = Run.objects.select_related("agent").filter(id=run_id, status=Run.Status.FAILED).first()
    if run is None:
        return None
    letter = DeadLetter.land(run, now)
    first_line = next((line for line in run.error.splitlines() if line.strip()), "")
    log.warning("run %s of %s is in the dead-letter list (landed %d times): %s", run.id, run.agent.key, letter.failures, first_line)
    approvals().notify_dead_letter(letter, run)
    return letter


def listed(resolved: bool = False) -> QuerySet[DeadLetter]:
    """Open entries whose run is still failed (or, with `resolved`, closed ones), newest first."""
    letters = DeadLetter.objects.select_related("run__agent", "resolved_by")
    if resolved:
        return letters.filter(resolved_at__isnull=False)
    return letters.open().filter(run__status=Run.Status.FAILED)


@dataclass
class DeadLetterPage:
    items: list[DeadLetter]
    next_cursor: str | None


def page(
    *, agent: str = "", resolved: bool = False, cursor: str = "", size: int = PAGE_SIZE
) -> DeadLetterPage:
    """One keyset page, newest failure first.

    Raises:
        Invalid: a cursor this server did not issue.
    """
    letters = listed(resolved)
    if agent:
        letters = letters.filter(run__agent__key=agent)
    if cursor:
        failed_at, letter_id = decode_cursor(cursor)
        letters = letters.filter(Q(failed_at__lt=failed_at) | Q(failed_at=failed_at, id__lt=letter_id))
    rows = list(letters.order_by("-failed_at", "-id")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return DeadLetterPage(rows, encode_cursor(rows[-1].failed_at, rows[-1].id) if more else None)


def get_open(letter_id: uuid.UUID) -> DeadLetter:
    letter = DeadLetter.objects.select_related("run__agent").filter(id=letter_id).first()
    if letter is None:
        raise NotFound("dead letter not found")
    if letter.resolved_at is not None:
        raise Conflict(f"this entry was already {letter.resolution} on {letter.resolved_at:%Y-%m-%d %H:%M} UTC")
    return letter


def dismiss(letter_id: uuid.UUID, user: Any) -> DeadLetter:
    """Close the entry without retrying (the failure is understood, or handled elsewhere); audited.

    Raises:
        NotFound, Conflict: no such entry, or it was already closed.
    """


    letter = get_open(letter_id)
    with transaction.atomic():
        if not letter.resolve(DeadLetter.Resolution.DISMISSED, user):
            raise Conflict("this entry was closed meanwhile")
        audit.record(user, "run.dead_letter_dismissed", letter.run, dead_letter=str(letter.id))
    return letter


def open_count() -> int:
    return listed().count()


def as_dict(letter: DeadLetter) -> dict[str, Any]:

    return {
        "id": letter.id,
        "run_id": letter.run_id,
        "agent": letter.run.agent.key,
        "run_status": letter.run.status,
        "error": letter.error,
        "attempts": letter.attempts,
        "failures": letter.failures,
        "failed_at": letter.failed_at,
        "resolved_at": letter.resolved_at,
        "resolution": letter.resolution or None,
        "resolved_by": letter.resolved_by.get_username() if letter.resolved_by else None,
        "run_url": reverse("run_detail", args=[letter.run_id]),
    }
