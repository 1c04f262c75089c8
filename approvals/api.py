"""Approvals API: list what the caller may review, and decide."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from agents.api import ErrorOut
from approvals.models import ApprovalRequest
from approvals.services import decide
from console.auth import role_auth
from console.errors import NotFound
from console.roles import REVIEWERS, has_role

router = Router(tags=["approvals"], auth=role_auth(lambda user: has_role(user, REVIEWERS), "review approvals"))


class DecisionOut(Schema):
    id: uuid.UUID
    user: str
    decision: str
    args: Any
    comment: str
    reason_code: str
    created_at: datetime


class ApprovalOut(Schema):
    id: uuid.UUID
    queue: str
    run_id: uuid.UUID | None
    status: str
    action: str
    summary: str
    proposed_args: Any
    args_schema: dict[str, Any]
    tool_call_id: str
    condition: str
    requested_by: str | None
    created_at: datetime
    approved_args: Any
    decided_by: str | None
    decided_at: datetime | None
    decisions: list[DecisionOut]


class DecisionIn(Schema):
    # A plain string, checked after permissions: 403 and 409 come before 422 (DESIGN.md).
    decision: str = Field(..., description='"approve", "reject" or "edit"')
    args: dict[str, Any] | None = None
    comment: str = Field("", max_length=5000)
    reason_code: str = Field("", max_length=100)


def approval_out(request: ApprovalRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "queue": request.queue.name,
        "run_id": request.run_id,
        "status": request.status,
        "action": request.action,
        "summary": request.summary,
        "proposed_args": request.proposed_args,
        "args_schema": request.args_schema,
        "tool_call_id": request.tool_call_id,
        "condition": request.condition,
        "requested_by": request.requested_by.get_username() if request.requested_by else None,
        "created_at": request.created_at,
        "approved_args": request.approved_args,
        "decided_by": request.decided_by.get_username() if request.decided_by else None,
        "decided_at": request.decided_at,
        "decisions": [
            {
                "id": d.id,
                "user": d.user.get_username(),
                "decision": d.decision,
                "args": d.args,
                "comment": d.comment,
                "reason_code": d.reason_code,
                "created_at": d.created_at,
            }
            for d in request.decisions.all()
        ],
    }


def _requests() -> Any:
    return ApprovalRequest.objects.select_related("queue", "requested_by", "decided_by").prefetch_related(
        "decisions__user"
    )


@router.get("", response={200: list[ApprovalOut], 401: ErrorOut, 403: ErrorOut})
def list_approvals(
    request: HttpRequest,
    status: ApprovalRequest.Status | None = None,
    queue: str | None = None,
    limit: int = Query(100, ge=1, le=500),
) -> list[dict[str, Any]]:
    """Approval requests in the queues the caller reviews, oldest first."""
    requests = _requests().visible_to(request.user).order_by("created_at", "id")
    if status:
        requests = requests.filter(status=status)
    if queue:
        requests = requests.filter(queue__name=queue)
    return [approval_out(r) for r in requests[:limit]]


@router.get("/{approval_id}", response={200: ApprovalOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut})
def get_approval(request: HttpRequest, approval_id: uuid.UUID) -> dict[str, Any]:
    found = _requests().visible_to(request.user).filter(id=approval_id).first()
    if found is None:
        raise NotFound("approval request not found")
    return approval_out(found)


@router.post(
    "/{approval_id}/decision",
    response={200: ApprovalOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
)
def post_decision(request: HttpRequest, approval_id: uuid.UUID, body: DecisionIn) -> dict[str, Any]:
    """Approve, reject (with a comment and reason code) or edit the arguments and approve."""
    decided = decide(approval_id, request.user, body.decision, body.args, body.comment, body.reason_code)
    return approval_out(_requests().get(id=decided.id))
