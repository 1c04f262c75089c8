"""Run inspection API: export and import a run's trace, score runs, read a thread.

Two routers: `router` is mounted at /runs next to the runs router (console/web/api.py mounts it
first, so POST /api/runs/import is not taken for GET /api/runs/{run_id}), and `threads_router`
at /threads.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema, Status

from agents.engine.models import Run
from agents.engine.schemas import RunOut, run_out
from approvals.models import ApprovalRequest
from console.kernel import audit
from console.kernel.auth import role_auth
from console.kernel.documents import download
from console.kernel.errors import NotFound
from console.kernel.roles import can_read_runs, can_start_runs
from console.kernel.schemas import ErrorOut, InputSchema
from traces.inspection.diff import diff_runs
from traces.inspection.export import TraceV1, export_filename, export_run, import_run, parse_trace
from traces.inspection.feedback import can_give_feedback, give_feedback
from traces.inspection.replay import preview, replay, retry
from traces.inspection.threads import thread_runs
from traces.recording.models import Feedback

__all__ = ["router", "threads_router"]

router = Router(tags=["runs"])
threads_router = Router(tags=["threads"])

READ = role_auth(can_read_runs, "read runs")
IMPORT = role_auth(can_start_runs, "import runs")
FEEDBACK = role_auth(can_give_feedback, "score runs")


class FeedbackIn(InputSchema):
    score: int = Field(..., description="1 (thumbs up) or -1 (thumbs down)")
    label: str = Field("", max_length=64)
    comment: str = Field("", max_length=5000)


class FeedbackOut(Schema):
    id: uuid.UUID
    run_id: uuid.UUID
    user: str
    score: int
    label: str
    comment: str
    created_at: datetime


def feedback_out(feedback: Feedback) -> dict[str, Any]:
    return {
        "id": feedback.id,
        "run_id": feedback.run_id,
        "user": feedback.user.get_username(),
        "score": feedback.score,
        "label": feedback.label,
        "comment": feedback.comment,
        "created_at": feedback.created_at,
    }


def _run(run_id: uuid.UUID) -> Run:
    run = Run.objects.select_related("agent", "created_by").filter(id=run_id).first()
    if run is None:
        raise NotFound("run not found")
    return run


def export_response(run: Run, user: Any) -> HttpResponse:
    """The export as a JSON file download (audited as run.exported); shared with the run page's link."""
    data = export_run(run)
    with transaction.atomic():
        audit.record(user, "run.exported", run)
    return download(data, export_filename(run))


@router.get(
    "/{run_id}/export",
    auth=READ,
    response={200: TraceV1, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    summary="Export a run's trace",
)
def export(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    """The run, its spans and its approvals as one JSON file (format "steward.trace.v1")."""
    return export_response(_run(run_id), request.user)


@router.post(
    "/import",
    auth=IMPORT,
    response={201: RunOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut},
    summary="Import a trace exported by a Steward",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TraceV1"}}},
        }
    },
)
def import_trace(request: HttpRequest) -> Status:
    """Body: an export (GET /api/runs/{run_id}/export). 201 with the new, read-only run; 422 lists
    everything wrong with the document; only finished runs can be imported. A body that is not JSON
    (or holds NaN or a NUL character) is 400, like every API call (console/kernel/middleware.py)."""
    run = import_run(parse_trace(request.body), request.user)
    return Status(201, run_out(run))


@router.get(
    "/{run_id}/feedback",
    auth=READ,
    response={200: list[FeedbackOut], 401: ErrorOut, 403: ErrorOut, 404: ErrorOut},
)
def list_feedback(request: HttpRequest, run_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every score of the run, newest first."""
    run = _run(run_id)
    return [feedback_out(f) for f in Feedback.objects.filter(run=run).select_related("user")]


@router.post(
    "/{run_id}/feedback",
    auth=FEEDBACK,
    response={200: FeedbackOut, 201: FeedbackOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def post_feedback(request: HttpRequest, run_id: uuid.UUID, body: FeedbackIn) -> Status:
    """Score the run: 201 for your first score, 200 when it replaces your earlier one."""
    feedback, created = give_feedback(_run(run_id), request.user, body.score, body.label, body.comment)
    return Status(201 if created else 200, feedback_out(feedback))


@threads_router.get(
    "/{path:thread_id}",
    auth=READ,
    response={200: list[RunOut], 401: ErrorOut, 403: ErrorOut, 404: ErrorOut},
)
def get_thread(request: HttpRequest, thread_id: str) -> list[dict[str, Any]]:
    """The thread's runs, oldest first (404 when no run has this thread id)."""

    runs = list(thread_runs(thread_id))
    if not runs:
        raise NotFound("thread not found")
    pending: dict[uuid.UUID, list[uuid.UUID]] = {}
    rows = ApprovalRequest.objects.pending().filter(run_id__in=[r.id for r in runs]).values_list("run_id", "id")
    for run_id, request_id in rows:
        pending.setdefault(run_id, []).append(request_id)
    return [run_out(r, pending.get(r.id)) for r in runs]


# --- replay, retry, diff ----------------------------------------------------------------------

REPLAY = role_auth(can_start_runs, "replay runs")


class ReplayIn(InputSchema):
    from_step: int | None = Field(None, description="the step to replay from; none: from the start")
    mode: str = Field("recorded", description="recorded (a copy, runs nothing), cassette (runs the code, plays every model and tool call back), mixed (played back before live_from_step, live from it) or live")
    live_from_step: int | None = Field(None, description="with mode mixed: live from this step on")
    state_patch: dict[str, Any] | None = Field(None, description="state keys to set at from_step")
    prompt_versions: dict[str, int] | None = Field(None, description="prompt name → version number to use instead")
    model: str | None = Field(None, max_length=200, description="another model, e.g. openai:gpt-4o-mini")


class DiffOut(Schema):
    a: str
    b: str
    totals: dict[str, Any]
    rows: list[dict[str, Any]]
    first_divergence: int | None


@router.post(
    "/{run_id}/replay", auth=REPLAY,
    response={201: RunOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
)
def post_replay(request: HttpRequest, run_id: uuid.UUID, body: ReplayIn) -> Status:
    """A new run forked from this one at `from_step` (recorded, live or mixed) → 201."""

    new = replay(
        _run(run_id), request.user, from_step=body.from_step, mode=body.mode,
        live_from_step=body.live_from_step, state_patch=body.state_patch,
        prompt_versions=body.prompt_versions, model=body.model,
    )
    return Status(201, run_out(Run.objects.select_related("agent", "created_by").get(id=new.id)))


class ReplayPreviewOut(Schema):
    mode: str
    live_from: int | None
    runs_code: bool
    nodes: list[dict[str, Any]]
    tool_calls: list[dict[str, Any]]
    approvals: list[dict[str, Any]]
    ledger: list[dict[str, Any]]
    not_intercepted: str


@router.post(
    "/{run_id}/replay/preview", auth=REPLAY,
    response={200: ReplayPreviewOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
)
def post_replay_preview(request: HttpRequest, run_id: uuid.UUID, body: ReplayIn) -> dict[str, Any]:
    """What the replay with this body would run again (the safety preview); nothing is started.

    Every node that runs again, every tool call recorded in those steps (whatever made it) with
    what happens to it ("played back, not run" or "runs again") and its approval request, the
    approvals that would be asked again and the ledger entries of the replay chain."""

    return preview(
        _run(run_id), from_step=body.from_step, mode=body.mode, live_from_step=body.live_from_step,
        state_patch=body.state_patch, prompt_versions=body.prompt_versions, model=body.model,
    )


@router.post(
    "/{run_id}/retry", auth=REPLAY,
    response={200: RunOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
)
def post_retry(request: HttpRequest, run_id: uuid.UUID) -> dict[str, Any]:
    """Run a failed run again from its last checkpoint, in place."""

    return run_out(retry(_run(run_id), request.user))


@router.get("/{a}/diff/{b}", auth=READ, response={200: DiffOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut})
def get_diff(request: HttpRequest, a: uuid.UUID, b: uuid.UUID) -> dict[str, Any]:
    """Two runs step by step, with the index of the first divergent step."""

    return diff_runs(_run(a), _run(b))
