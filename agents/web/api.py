"""Runs API: start, list, read, steps, cancel."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from agents.engine.limits import RunLimitsIn
from agents.engine.models import Run
from agents.engine.schemas import RunOut, run_out
from agents.engine.services import cancel_run, start_run
from agents.web.run_filters import RunFilters
from approvals.models import ApprovalRequest
from console.kernel.auth import role_auth
from console.kernel.errors import Invalid, NotFound
from console.kernel.roles import can_read_runs, can_start_runs
from console.kernel.schemas import ErrorOut, InputSchema
from traces.inspection.waterfall import span_tree, spans_containing
from traces.recording.models import Span

router = Router(tags=["runs"])
PAGE_SIZE = 50


class RunCreateIn(InputSchema):
    agent: str = Field(..., description="Registered agent key, e.g. refund")
    input: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    limits: RunLimitsIn | None = Field(
        None,
        description="This run's limits over the agent's (left out: the agent's). Anyone may tighten them; "
        "only an admin may loosen them (a higher value, or null for none).",
    )
    interrupt_before: list[str] = Field(
        default_factory=list, max_length=100,
        description="Static breakpoints for this run, beside the graph's own: stop before these nodes ('*': every node) "
        "and wait on an approval request to continue",
    )
    interrupt_after: list[str] = Field(
        default_factory=list, max_length=100, description="The same, after these nodes have run",
    )


class RunPageOut(Schema):
    items: list[RunOut]
    next_cursor: str | None


class SpanOut(Schema):
    id: uuid.UUID
    parent_id: uuid.UUID | None
    seq: int = Field(description="order of start within the run; pass the last one back as `after` for the next page")
    depth: int = Field(0, description="levels below a root span: a node's calls are 1, a subgraph's nodes 1, their calls 2")
    run_id: uuid.UUID
    kind: str
    name: str
    status: str
    started_at: datetime
    latency_ms: float
    input: Any
    output: Any
    error: str
    tokens_in: int
    tokens_out: int
    cost: float
    model: str
    checkpoint_id: str
    step: int | None


READ = role_auth(can_read_runs, "read runs")
START = role_auth(can_start_runs, "start runs")
CANCEL = role_auth(can_start_runs, "cancel runs")


def _get_run(run_id: uuid.UUID) -> Run:
    run = Run.objects.select_related("agent", "created_by").filter(id=run_id).first()
    if run is None:
        raise NotFound("run not found")
    return run


def _pending_of(run_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:

    pending: dict[uuid.UUID, list[uuid.UUID]] = {}
    rows = ApprovalRequest.objects.pending().filter(run_id__in=run_ids).values_list("run_id", "id")
    for run_id, request_id in rows:
        pending.setdefault(run_id, []).append(request_id)
    return pending


@router.post("", auth=START, response={201: RunOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut})
def create_run(request: HttpRequest, body: RunCreateIn) -> Status:
    """Start a run: 201 with the queued run."""
    limits = body.limits.model_dump(exclude_unset=True) if body.limits is not None else None
    breakpoints = {"before": body.interrupt_before, "after": body.interrupt_after}
    run = start_run(body.agent, body.input, request.user, body.metadata, limits, breakpoints)
    # The row as written: a fast worker may already have moved it on.
    return Status(201, run_out(run))


@router.get("", auth=READ, response={200: RunPageOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut})
def list_runs(
    request: HttpRequest,
    status: str | None = None,
    agent: str | None = None,
    since: str | None = Query(None, description="ISO date-time: runs created at or after"),
    until: str | None = Query(None, description="ISO date-time: runs created before"),
    tag: str | None = Query(None, description="a tag in metadata.tags"),
    meta: str | None = Query(None, description="key=value in metadata"),
    has_error: str | None = None,
    cost_min: str | None = None,
    cost_max: str | None = None,
    duration_min: str | None = Query(None, description="milliseconds of totals.latency_ms (time inside nodes)"),
    duration_max: str | None = Query(None, description="milliseconds of totals.latency_ms (time inside nodes)"),
    started_by: str | None = None,
    waiting_approval: str | None = None,
    model: str | None = None,
    feedback: str | None = Query(None, description="up, down or none"),
    prompt: str | None = Query(None, description="runs that pinned a prompt: name, or name@version"),
    q: str | None = Query(None, description="full-text search over input, output and error"),
    sort: str | None = Query(None, description="-created (default), created, -duration, duration (totals.latency_ms), -cost, cost, -steps"),
    cursor: str | None = None,
    limit: int = Query(PAGE_SIZE, ge=1, le=200),
) -> dict[str, Any]:
    """Runs, newest first unless sorted otherwise, keyset-paginated: pass `next_cursor` back as `cursor`."""
    filters = RunFilters.parse(request.GET)
    if filters.errors:
        raise Invalid(filters.errors)
    runs = Run.objects.select_related("agent", "created_by")
    page, next_cursor = filters.page(runs, limit)
    pending = _pending_of([r.id for r in page])
    return {"items": [run_out(r, pending.get(r.id)) for r in page], "next_cursor": next_cursor}


@router.get("/{run_id}", auth=READ, response={200: RunOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut})
def get_run(request: HttpRequest, run_id: uuid.UUID) -> dict[str, Any]:
    run = _get_run(run_id)
    return run_out(run, _pending_of([run.id]).get(run.id))


@router.get("/{run_id}/steps", auth=READ, response={200: list[SpanOut], 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut})
def run_steps(
    request: HttpRequest,
    run_id: uuid.UUID,
    after: int = Query(-1, ge=-1, description="only spans whose seq is greater (keyset paging: the last seq of the previous page)"),
    limit: int | None = Query(None, ge=1, le=5000, description="at most this many spans (left out: all of them)"),
    payloads: bool = Query(True, description="false leaves input and output out (null): the waterfall's light rows"),
    q: str = Query("", max_length=200, description="only spans whose name, model, error, input or output contains this text (any case; the stored, redacted payloads)"),
) -> list[dict[str, Any]]:
    """The run's spans in the order they started, each with its depth in the span tree."""
    run = _get_run(run_id)
    spans = Span.objects.filter(run=run, seq__gt=after).order_by("seq")
    if q.strip():
        spans = spans_containing(spans, q.strip())
    if not payloads:
        spans = spans.defer("input", "output")
    page = list(spans if limit is None else spans[:limit])
    depth = span_tree(run).depth if page else {}
    return [_span_out(span, depth.get(span.id, 0), payloads) for span in page]


_SPAN_FIELDS = tuple(name for name in SpanOut.model_fields if name not in ("depth", "input", "output"))


def _span_out(span: Span, depth: int, payloads: bool) -> dict[str, Any]:
    out = {name: getattr(span, name) for name in _SPAN_FIELDS}
    out.update(depth=depth, input=span.input if payloads else None, output=span.output if payloads else None)
    return out


@router.post("/{run_id}/cancel", auth=CANCEL, response={200: RunOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut})
def cancel(request: HttpRequest, run_id: uuid.UUID) -> dict[str, Any]:
    """Cancel a queued, running or waiting run (and its pending approval); 409 if finished."""
    run = cancel_run(_get_run(run_id), request.user)
    return run_out(run)
