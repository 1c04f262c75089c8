"""Dead-letter API (engineers and admins): the list, and retry or dismiss an entry."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema

from agents.engine import dead_letters
from agents.engine.models import Run
from agents.engine.schemas import RunOut, run_out
from console.kernel.auth import role_auth
from console.kernel.roles import can_start_runs
from console.kernel.schemas import ErrorOut
from traces.inspection import replay

router = Router(tags=["dead letters"])
ENGINEERS = role_auth(can_start_runs, "see and act on dead letters")


class DeadLetterOut(Schema):
    id: uuid.UUID
    run_id: uuid.UUID
    agent: str
    run_status: str
    error: str
    attempts: int
    failures: int
    failed_at: datetime
    resolved_at: datetime | None
    resolution: str | None
    resolved_by: str | None
    run_url: str


class DeadLetterPageOut(Schema):
    items: list[DeadLetterOut]
    next_cursor: str | None


@router.get("", auth=ENGINEERS, response={200: DeadLetterPageOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut})
def list_dead_letters(
    request: HttpRequest,
    agent: str | None = None,
    resolved: bool = Query(False, description="closed entries (retried or dismissed) instead of open ones"),
    cursor: str | None = None,
    limit: int = Query(dead_letters.PAGE_SIZE, ge=1, le=200),
) -> dict[str, Any]:
    """Failed runs waiting for an engineer, newest failure first, keyset-paginated: pass
    `next_cursor` back as `cursor`."""
    found = dead_letters.page(agent=agent or "", resolved=resolved, cursor=cursor or "", size=limit)
    return {"items": [dead_letters.as_dict(letter) for letter in found.items], "next_cursor": found.next_cursor}


@router.post(
    "/{letter_id}/retry", auth=ENGINEERS,
    response={200: RunOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
)
def retry_dead_letter(request: HttpRequest, letter_id: uuid.UUID) -> dict[str, Any]:
    """Retry the run in place from its last checkpoint and close the entry: the queued run."""
    run = replay.retry_dead_letter(letter_id, request.user)
    return run_out(Run.objects.select_related("agent", "created_by").get(id=run.id))


@router.post(
    "/{letter_id}/dismiss", auth=ENGINEERS,
    response={200: DeadLetterOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
)
def dismiss_dead_letter(request: HttpRequest, letter_id: uuid.UUID) -> dict[str, Any]:
    """Close the entry without retrying; 409 if it was already closed."""
    letter = dead_letters.dismiss(letter_id, request.user)
    letter.refresh_from_db()
    return dead_letters.as_dict(letter)
