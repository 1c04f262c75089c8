"""API: replay recent runs with the version a pending promotion proposes (mounted at /api/prompts)."""

from __future__ import annotations

import uuid

from django.http import HttpRequest
from django.urls import reverse
from ninja import Field, Router, Schema, Status

from agents.prompt_admin.regression import DEFAULT_LIMIT, replay_for_promotion
from approvals.models import ApprovalRequest
from console.kernel.auth import role_auth
from console.kernel.errors import NotFound
from console.kernel.roles import can_start_runs
from console.kernel.schemas import ErrorOut, InputSchema
from traces.inspection.batch import MAX_BATCH

__all__ = ["router"]

router = Router(tags=["prompts"])


class RegressionIn(InputSchema):
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_BATCH, description="how many of the newest finished runs to replay")


class RegressionRunOut(Schema):
    id: uuid.UUID
    source_run_id: uuid.UUID
    status: str
    mode: str
    live_from_step: int | None
    diff_url: str


class RegressionOut(Schema):
    request_id: uuid.UUID
    prompt: str
    version: int
    batch: str
    runs: list[RegressionRunOut]
    skipped: list[dict[str, str]]


REPLAY = role_auth(can_start_runs, "replay runs")


@router.post(
    "/{name}/promotions/{request_id}/regression",
    auth=REPLAY,
    response={201: RegressionOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
)
def start_regression(
    request: HttpRequest, name: str, request_id: uuid.UUID, body: RegressionIn | None = None
) -> Status:
    """Replay the last `limit` finished runs of the agents using the prompt with the version the
    pending promotion proposes (recorded up to the first model call that renders the prompt, live
    after), as one batch attached to the request: 201 with the queued replays."""
    approval = ApprovalRequest.objects.filter(id=request_id, proposed_args__prompt=name).first()
    if approval is None:
        raise NotFound(f"no promotion request {request_id} for the prompt {name!r}")
    runs = replay_for_promotion(approval, request.user, limit=(body or RegressionIn()).limit)
    entry = approval.regression_batches[-1]
    return Status(
        201,
        {
            "request_id": approval.id,
            "prompt": name,
            "version": entry["version"],
            "batch": entry["batch"],
            "runs": [
                {
                    "id": run.id,
                    "source_run_id": run.parent_run_id,
                    "status": run.status,
                    "mode": run.metadata["replay"]["mode"],
                    "live_from_step": run.metadata["replay"]["live_from_step"],
                    "diff_url": reverse("run_diff", args=[run.parent_run_id, run.id]),
                }
                for run in runs
            ],
            "skipped": entry["skipped"],
        },
    )
