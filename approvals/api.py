"""Approvals API: list, claim, release, next, decide (one or many), reassign."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db.models import Prefetch, Q, prefetch_related_objects
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from approvals.inbox import put_to_requester
from approvals.models import ApprovalRequest, Decision
from approvals.services import bulk_decide, claim, decide, next_request, reassign, release
from approvals.shown_args import shown
from console.kernel.auth import request_auth, role_auth
from console.kernel.cursors import decode_cursor, encode_cursor
from console.kernel.errors import NotFound
from console.kernel.roles import REVIEWERS, has_role
from console.kernel.schemas import ErrorOut, InputSchema

router = Router(tags=["approvals"], auth=role_auth(lambda user: has_role(user, REVIEWERS), "review approvals"))


def _reviews_or_is_asked(request: HttpRequest, user: Any) -> bool:
    """Reviewers; and, for the request the URL names, the run's requester where its queue lets
    them answer it (a question put to them: `ApprovalRequest.requester_may_answer`)."""
    if has_role(user, REVIEWERS):
        return True
    match = request.resolver_match
    approval_id = match.kwargs.get("approval_id") if match is not None else None
    return approval_id is not None and put_to_requester(approval_id, user) is not None


# One request's page and its decision: also for its run's requester when the request is put to them.
ASKED = request_auth(_reviews_or_is_asked, "review approvals")
ERRORS: dict[int, Any] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


class DecisionOut(Schema):
    id: uuid.UUID
    user: str | None
    decision: str
    args: Any
    proposed_args: Any
    approved_args: Any
    args_diff: list[dict[str, Any]]
    comment: str
    reason_code: str
    automatic_rule: str
    created_at: datetime
    superseded_at: datetime | None = Field(
        None, description="Set when the agent refused the answer this decision led to and the request opened again"
    )


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
    due_at: datetime | None
    overdue: bool
    claimed_by: str | None
    claimed_until: datetime | None
    approvals: int
    required_approvals: int
    approved_args: Any
    decided_by: str | None
    decided_at: datetime | None
    decided_automatically_by: str
    escalation_count: int
    last_resume_error: str = Field(
        "", description="The agent's error when it last refused the answer it was resumed with (the request is pending again)"
    )
    resume_refused_at: datetime | None = None
    decisions: list[DecisionOut]
    interrupt: dict[str, Any] = Field(
        ..., description="The interrupt's shape: kind, actions (name, args, description, allowed decisions), value, "
        "response_schema and the decisions the request allows"
    )


class ActionDecisionIn(InputSchema):
    decision: str
    args: dict[str, Any] | None = None
    comment: str = Field("", max_length=5000)


class DecisionIn(InputSchema):
    # A plain string, checked after permissions: 403 and 409 come before 422 (docs/architecture.md, "API errors").
    decision: str = Field(
        ..., description='"approve", "reject", "edit" (with args), "respond" (with comment) or "answer" (with value)'
    )
    args: dict[str, Any] | None = None
    comment: str = Field("", max_length=5000)
    reason_code: str = Field("", max_length=100)
    value: Any = Field(None, description="A free-form interrupt's answer: any JSON value")
    actions: list[ActionDecisionIn] | None = Field(
        None, max_length=100, description="One decision per action of a batched interrupt, in order"
    )


class ApprovalPageOut(Schema):
    items: list[ApprovalOut]
    next_cursor: str | None


class BulkDecisionIn(InputSchema):
    ids: list[uuid.UUID] = Field(..., min_length=1, max_length=500)
    decision: str = Field(..., description='"approve", "reject" or "respond"')
    comment: str = Field("", max_length=5000)
    reason_code: str = Field("", max_length=100)


class BulkResultOut(Schema):
    id: uuid.UUID
    ok: bool
    status: Any
    detail: Any


class BulkOut(Schema):
    results: list[BulkResultOut]


class ReassignIn(InputSchema):
    queue: str
    reason: str = Field("", max_length=2000)


def interrupt_out(request: ApprovalRequest) -> dict[str, Any]:
    """The interrupt as the reviewer reads it (arguments and value redacted like the others)."""
    shape = request.shape
    return {
        "kind": shape.kind,
        "actions": [{**action, "args": shown(action["args"])} for action in shape.actions],
        "value": shown(shape.value),
        "response_schema": shape.response_schema,
        "allowed": shape.allowed,
    }


def approval_out(request: ApprovalRequest) -> dict[str, Any]:
    now_claimed = request.claimed_until is not None and request.claimed_by_id is not None
    return {
        "id": request.id,
        "queue": request.queue.name,
        "run_id": request.run_id,
        "status": request.status,
        "action": request.action,
        "summary": request.summary,
        "proposed_args": shown(request.proposed_args),
        "args_schema": request.args_schema,
        "tool_call_id": request.tool_call_id,
        "condition": request.condition,
        "requested_by": request.requested_by.get_username() if request.requested_by else None,
        "created_at": request.created_at,
        "due_at": request.due_at,
        "overdue": request.is_overdue,
        "claimed_by": request.claimed_by.get_username() if now_claimed and request.claimed_by else None,
        "claimed_until": request.claimed_until if now_claimed else None,
        "approvals": request.approvals,
        "required_approvals": request.queue.required_approvals,
        "approved_args": shown(request.approved_args),
        "decided_by": request.decided_by.get_username() if request.decided_by else None,
        "decided_at": request.decided_at,
        "decided_automatically_by": request.decided_automatically_by,
        "escalation_count": request.escalation_count,
        "last_resume_error": request.last_resume_error,
        "resume_refused_at": request.resume_refused_at,
        "interrupt": interrupt_out(request),
        "decisions": [
            {
                "id": d.id,
                "user": d.user.get_username() if d.user else None,
                "decision": d.decision,
                "args": shown(d.args),
                "proposed_args": shown(d.proposed_args),
                "approved_args": shown(d.approved_args),
                "args_diff": shown(d.args_diff),
                "comment": d.comment,
                "reason_code": d.reason_code,
                "automatic_rule": d.automatic_rule,
                "created_at": d.created_at,
                "superseded_at": d.superseded_at,
            }
            for d in (request.decisions.all() if request.decisions_known is None else request.decisions_known)
        ],
    }


def _decisions() -> Prefetch:
    # The decisions with their users in one query (not one for decisions, one for users).
    return Prefetch("decisions", queryset=Decision.objects.select_related("user"))


def _requests() -> Any:
    return ApprovalRequest.objects.select_related("queue", "requested_by", "decided_by", "claimed_by").prefetch_related(
        _decisions()
    )


def _one(request: HttpRequest, approval_id: uuid.UUID) -> dict[str, Any]:
    found = _requests().visible_to(request.user).filter(id=approval_id).first()
    if found is None and put_to_requester(approval_id, request.user) is not None:
        found = _requests().filter(id=approval_id).first()
    if found is None:
        raise NotFound("approval request not found")
    return approval_out(found)


@router.get("", response={200: ApprovalPageOut, **ERRORS})
def list_approvals(
    request: HttpRequest,
    status: ApprovalRequest.Status | None = None,
    queue: str | None = None,
    cursor: str | None = None,
    limit: int = Query(100, ge=1, le=200),
) -> dict[str, Any]:
    """Approval requests in the queues the caller reviews, oldest first, keyset-paginated: pass
    `next_cursor` back as `cursor`."""
    requests = _requests().visible_to(request.user).order_by("created_at", "id")
    if status:
        requests = requests.filter(status=status)
    if queue:
        requests = requests.filter(queue__name=queue)
    if cursor:
        created, last_id = decode_cursor(cursor)
        requests = requests.filter(Q(created_at__gt=created) | Q(created_at=created, id__gt=last_id))
    page = list(requests[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    return {
        "items": [approval_out(r) for r in page],
        "next_cursor": encode_cursor(page[-1].created_at, page[-1].id) if more and page else None,
    }


@router.post("/next", response={200: ApprovalOut, **ERRORS})
def take_next(request: HttpRequest, queue: str | None = None) -> dict[str, Any]:
    """Claim and return the request due first that nobody holds; 404 when none waits for you."""
    taken = next_request(request.user, queue)
    if taken is None:
        raise NotFound("no unclaimed request is waiting for you" + (f" in {queue!r}" if queue else ""))
    return _one(request, taken.id)


@router.post("/bulk-decision", response={200: BulkOut, **ERRORS})
def post_bulk_decision(request: HttpRequest, body: BulkDecisionIn) -> dict[str, Any]:
    """Decide several requests with one reason; each is checked on its own. The response says
    which succeeded and why the others did not."""
    return {"results": bulk_decide(body.ids, request.user, body.decision, body.comment, body.reason_code)}


@router.get("/{approval_id}", response={200: ApprovalOut, **ERRORS}, auth=ASKED)
def get_approval(request: HttpRequest, approval_id: uuid.UUID) -> dict[str, Any]:
    return _one(request, approval_id)


@router.post("/{approval_id}/claim", response={200: ApprovalOut, **ERRORS})
def post_claim(request: HttpRequest, approval_id: uuid.UUID) -> dict[str, Any]:
    """Claim for review for the queue's claim time; 409 naming the holder if someone has it."""
    claim(approval_id, request.user)
    return _one(request, approval_id)


@router.post("/{approval_id}/release", response={200: ApprovalOut, **ERRORS})
def post_release(request: HttpRequest, approval_id: uuid.UUID) -> dict[str, Any]:
    """Release your claim (an admin may release anyone's)."""
    release(approval_id, request.user)
    return _one(request, approval_id)


@router.post("/{approval_id}/decision", response={200: ApprovalOut, **ERRORS}, auth=ASKED)
def post_decision(request: HttpRequest, approval_id: uuid.UUID, body: DecisionIn) -> dict[str, Any]:
    """Approve, reject (reason code from the queue's list, comment), edit the arguments and
    approve, respond to the agent, or answer a free-form interrupt. Needs no claim unless someone
    else holds the request. The queue's reviewers decide; the run's requester only where the
    queue lets them answer (`requester_may_answer`: by default questions, never gated actions)."""
    actions = [a.model_dump() for a in body.actions] if body.actions is not None else None
    decided = decide(approval_id, request.user, body.decision, body.args, body.comment, body.reason_code, body.value, actions)
    # Answered from what deciding read and wrote, not read back: the request comes with its queue
    # and requester, settling sets who decided, and its decisions are known when this one is the
    # first (`decisions_known`); earlier ones (a quorum's votes, a refused round's) are read. Whoever
    # may decide a request may read it: no visibility check.
    if decided.decisions_known is None:
        prefetch_related_objects([decided], _decisions())
    return approval_out(decided)


@router.post("/{approval_id}/reassign", response={200: ApprovalOut, **ERRORS})
def post_reassign(request: HttpRequest, approval_id: uuid.UUID, body: ReassignIn) -> dict[str, Any]:
    """Move the request to another queue, with a reason."""
    reassign(approval_id, request.user, body.queue, body.reason)
    return _one(request, approval_id)
