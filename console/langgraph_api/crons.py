"""Crons: create (for a thread or stateless), search, count, update, delete, as `langgraph_sdk`'s
CronClient calls them; and `fire_due_crons`, which the beat task `langgraph.fire_crons` calls.

Each firing is a normal Steward run, started by `start_or_resume_sdk` (the path `POST .../runs`
takes) as the cron's creator, with the cron's body. A firing is claimed by one conditional
UPDATE of `next_run_at` (Cron.claim) in the transaction that starts the run, so several beat
or worker processes never fire it twice, and a run that could not start leaves no claim behind
only when the database failed; a refusal (the thread busy under `reject`, the creator without
the role any more) is kept as the cron's `last_error` and the cron waits for its next time.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any, Literal

from django.db import transaction
from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field

from console.kernel.errors import Invalid, NotFound, StewardError
from console.langgraph_api.assistants import find_assistant
from console.langgraph_api.cron_models import Cron
from console.langgraph_api.cron_schedule import InvalidSchedule, parse_schedule, zone
from console.langgraph_api.http import Call, Reply, body_as
from console.langgraph_api.runs import (  # the checks runs.create makes
    _refuse_unsupported,
    start_or_resume_sdk,
)
from console.langgraph_api.schemas import RunCreateIn, iso
from console.langgraph_api.threads import find_thread

__all__ = ["count", "create", "delete", "fire_due_crons", "search", "update"]

log = logging.getLogger(__name__)

# What a firing sends as the run's body (the rest of a cron's body is the cron's own).
_RUN_FIELDS = (
    "input", "config", "metadata", "context", "interrupt_before", "interrupt_after", "webhook", "checkpoint_during",
    "durability", "multitask_strategy", "stream_mode", "stream_subgraphs", "stream_resumable",
)
# At most this many crons fire per tick; the rest are due still and fire on the next.
FIRE_BATCH = 100


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CronCreateIn(_In):
    assistant_id: str
    schedule: str
    timezone: str | None = None
    end_time: datetime | None = None
    enabled: bool | None = None
    on_run_completed: Literal["delete", "keep"] | None = None
    metadata: dict[str, Any] | None = None


class CronUpdateIn(_In):
    schedule: str | None = None
    timezone: str | None = None
    end_time: datetime | None = None
    enabled: bool | None = None
    on_run_completed: Literal["delete", "keep"] | None = None
    metadata: dict[str, Any] | None = None


class CronSearchIn(_In):
    assistant_id: str | None = None
    thread_id: str | None = None
    enabled: bool | None = None
    metadata: dict[str, Any] | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)
    sort_by: Literal["cron_id", "assistant_id", "thread_id", "next_run_date", "end_time", "created_at", "updated_at"] | None = None
    sort_order: Literal["asc", "desc"] | None = None
    select: list[str] | None = None


CRON_FIELDS = (
    "cron_id", "assistant_id", "thread_id", "on_run_completed", "end_time", "schedule", "timezone", "created_at",
    "updated_at", "payload", "user_id", "next_run_date", "metadata", "enabled",
)
_SORT_COLUMNS = {"thread_id": "thread_id", "next_run_date": "next_run_at"}


def cron_out(cron: Cron) -> dict[str, Any]:
    return {
        "cron_id": str(cron.cron_id),
        "assistant_id": cron.assistant_id,
        "thread_id": cron.thread_id,
        "on_run_completed": cron.on_run_completed or None,
        "end_time": iso(cron.end_time),
        "schedule": cron.schedule,
        "timezone": cron.timezone,
        "created_at": iso(cron.created_at),
        "updated_at": iso(cron.updated_at),
        "payload": cron.payload,
        "user_id": str(cron.created_by_id) if cron.created_by_id else None,
        "next_run_date": iso(cron.next_run_at),
        "metadata": cron.metadata,
        "enabled": cron.enabled,
    }


def _next_run(schedule: str, tz_name: str, end_time: datetime | None, after: datetime) -> datetime | None:
    """The next firing after `after`, or None past `end_time`.

    Raises:
        Invalid: 422 for a bad expression or time zone."""
    try:
        following = parse_schedule(schedule).next_after(after, zone(tz_name))
    except InvalidSchedule as exc:
        field = "timezone" if str(exc).startswith("unknown time zone") else "schedule"
        raise Invalid([{"loc": ["body", field], "msg": str(exc)}]) from None
    if following is None or (end_time is not None and following > end_time):
        return None
    return following


def _refuse_delete_on_completion(value: str | None) -> None:
    if value == "delete":
        msg = "Steward keeps every run (they stay in the console): on_run_completed must be 'keep'"
        raise Invalid([{"loc": ["body", "on_run_completed"], "msg": msg}])


def create(call: Call, thread_id: str | None = None) -> dict[str, Any]:
    body = body_as(CronCreateIn, call.body)
    given = call.body if isinstance(call.body, dict) else {}
    run_body = {"assistant_id": body.assistant_id, **{k: given[k] for k in _RUN_FIELDS if given.get(k) is not None}}
    _refuse_unsupported(body_as(RunCreateIn, run_body))
    _refuse_delete_on_completion(body.on_run_completed)
    spec = find_assistant(body.assistant_id)
    thread = find_thread(thread_id) if thread_id is not None else None
    tz_name = body.timezone or "UTC"
    enabled = body.enabled is not False
    following = _next_run(body.schedule, tz_name, body.end_time, timezone.now())
    cron = Cron.objects.create(
        assistant_id=body.assistant_id, graph_id=spec.key, thread=thread, schedule=body.schedule, timezone=tz_name,
        payload=run_body, metadata=body.metadata or {}, on_run_completed=body.on_run_completed or "",
        created_by=call.user, enabled=enabled, end_time=body.end_time, next_run_at=following if enabled else None,
    )
    return cron_out(cron)


def _find(cron_id: str) -> Cron:
    try:
        cron = Cron.objects.filter(cron_id=uuid.UUID(cron_id)).first()
    except ValueError:  # not a uuid: no such cron
        cron = None
    if cron is None:
        raise NotFound(f"cron {cron_id!r} not found")
    return cron


def update(call: Call, cron_id: str) -> dict[str, Any]:
    body = body_as(CronUpdateIn, call.body)
    given = call.body if isinstance(call.body, dict) else {}
    _refuse_delete_on_completion(body.on_run_completed)
    cron = _find(cron_id)
    run_body = {**cron.payload, **{k: given[k] for k in _RUN_FIELDS if given.get(k) is not None}}
    _refuse_unsupported(body_as(RunCreateIn, run_body))
    cron.payload = run_body
    cron.schedule = body.schedule or cron.schedule
    cron.timezone = body.timezone or cron.timezone
    if "end_time" in given:
        cron.end_time = body.end_time
    if body.enabled is not None:
        cron.enabled = body.enabled
    if body.metadata is not None:
        cron.metadata = body.metadata
    if body.on_run_completed is not None:
        cron.on_run_completed = body.on_run_completed
    following = _next_run(cron.schedule, cron.timezone, cron.end_time, timezone.now())
    cron.next_run_at = following if cron.enabled else None
    cron.updated_at = timezone.now()
    cron.save()
    return cron_out(cron)


def delete(call: Call, cron_id: str) -> Reply:
    _find(cron_id).delete()
    return Reply(None, 204)


def _filtered(body: CronSearchIn | None, given: dict[str, Any]) -> Any:
    crons = Cron.objects.all()
    assistant_id, thread_id = given.get("assistant_id"), given.get("thread_id")
    if assistant_id:
        spec = find_assistant(str(assistant_id))
        crons = crons.filter(graph_id=spec.key)
    if thread_id:
        crons = crons.filter(thread_id=str(thread_id))
    if body is not None and body.enabled is not None:
        crons = crons.filter(enabled=body.enabled)
    metadata = given.get("metadata")
    if metadata:
        if not isinstance(metadata, dict):
            raise Invalid([{"loc": ["body", "metadata"], "msg": "metadata must be an object"}])
        crons = crons.filter(metadata__contains=metadata)
    return crons


def search(call: Call) -> list[dict[str, Any]]:
    body = body_as(CronSearchIn, call.body)
    crons = _filtered(body, call.body if isinstance(call.body, dict) else {})
    column = _SORT_COLUMNS.get(body.sort_by or "created_at", body.sort_by or "created_at")
    descending = (body.sort_order or "desc") == "desc"
    crons = crons.order_by(f"-{column}" if descending else column, "-cron_id" if descending else "cron_id")
    page = [cron_out(c) for c in crons[body.offset : body.offset + body.limit]]
    if body.select:
        unknown = sorted(set(body.select) - set(CRON_FIELDS))
        if unknown:
            raise Invalid([{"loc": ["body", "select"], "msg": f"unknown fields {unknown}; fields: {', '.join(CRON_FIELDS)}"}])
        page = [{k: v for k, v in c.items() if k in body.select} for c in page]
    return page


def count(call: Call) -> int:
    return int(_filtered(None, call.body if isinstance(call.body, dict) else {}).count())


# --- firing -----------------------------------------------------------------------------------


def _fire(cron: Cron, due_at: datetime, now: datetime) -> bool:
    """Claim this firing and start its run, in one transaction. False: another process had it."""
    following = _next_run(cron.schedule, cron.timezone, cron.end_time, max(now, due_at))
    with transaction.atomic():
        if not cron.claim(due_at, following):
            return False
        if cron.created_by is None:
            Cron.objects.filter(cron_id=cron.cron_id).update(last_error="its creator no longer exists")
            return True
        body = {**cron.payload, "metadata": {**(cron.payload.get("metadata") or {}), "cron_id": str(cron.cron_id)}}
        try:
            with transaction.atomic():
                sdk = start_or_resume_sdk(cron.created_by, cron.thread_id, body)
        except StewardError as exc:
            log.warning("cron %s did not start a run: %s", cron.cron_id, exc.detail)
            Cron.objects.filter(cron_id=cron.cron_id).update(last_error=str(exc.detail)[:2000])
            return True
        Cron.objects.filter(cron_id=cron.cron_id).update(last_run_id=sdk.run_id, last_error="")
    return True


def fire_due_crons(now: datetime | None = None) -> int:
    """Fire every enabled cron whose time has come; how many firings this process claimed."""
    now = now or timezone.now()
    due = list(
        Cron.objects.filter(enabled=True, next_run_at__lte=now).select_related("created_by").order_by("next_run_at")[:FIRE_BATCH]
    )
    fired = 0
    for cron in due:
        assert cron.next_run_at is not None
        try:
            fired += _fire(cron, cron.next_run_at, now)
        except Exception:  # noqa: BLE001 - one broken cron must not stop the others
            log.exception("cron %s failed to fire", cron.cron_id)
    return fired
