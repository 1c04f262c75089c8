"""Writes that span approval requests, runs and tasks: open requests, decide, cancel."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from jsonschema import Draft202012Validator
from langgraph.types import Interrupt

from agents.models import Run
from agents.tasks import send_run
from approvals.models import ApprovalRequest, AuditEvent, Decision, Queue
from console import live
from console.errors import Conflict, Forbidden, Invalid, NotFound
from console.roles import REVIEWERS

__all__ = ["cancel_requests_of_run", "decide", "open_requests_for_interrupts"]

log = logging.getLogger(__name__)
DEFAULT_QUEUE = "default"


def audit(actor: Any, action: str, obj: Any, **data: Any) -> None:
    AuditEvent.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        object_type=type(obj)._meta.label_lower,
        object_id=str(obj.pk),
        data=data,
    )


def _queue_named(name: str) -> Queue:
    queue = Queue.objects.filter(name=name or DEFAULT_QUEUE).first()
    if queue is None:
        # An agent named a queue nobody created: make it, reviewable by the reviewers group,
        # rather than lose the request.
        log.warning("approval queue %r does not exist; creating it", name)
        queue, _ = Queue.objects.get_or_create(name=name or DEFAULT_QUEUE)
        group, _ = Group.objects.get_or_create(name=REVIEWERS)
        queue.reviewer_groups.add(group)
    return queue


def open_requests_for_interrupts(run: Run, interrupts: Sequence[Interrupt]) -> list[ApprovalRequest]:
    """One request per pending interrupt (inside the transaction that sets the run waiting)."""
    opened = []
    for interrupt in interrupts:
        payload = interrupt.value if isinstance(interrupt.value, dict) else {"args": {"value": interrupt.value}}
        request, created = ApprovalRequest.objects.get_or_create(
            run=run,
            interrupt_id=interrupt.id,
            defaults={
                "queue": _queue_named(str(payload.get("queue") or DEFAULT_QUEUE)),
                "requested_by_id": run.created_by_id,
                "action": str(payload.get("action") or "interrupt")[:200],
                "summary": str(payload.get("summary") or ""),
                "proposed_args": payload.get("args") or {},
                "args_schema": payload.get("args_schema") or {},
                "tool_call_id": str(payload.get("tool_call_id") or "")[:200],
                "condition": str(payload.get("condition") or "")[:200],
            },
        )
        if created:
            audit(None, "approval.requested", request, run_id=str(run.id), queue=request.queue.name)
            live.publish(live.APPROVALS_GROUP, {"kind": "approval", "approval_id": str(request.id), "status": "pending"})
            opened.append(request)
    return opened


def _schema_errors(schema: dict[str, Any], args: Any) -> list[dict[str, Any]]:
    if not isinstance(args, dict):
        return [{"loc": ["args"], "msg": "args must be an object"}]
    if not schema:
        return []
    validator = Draft202012Validator(schema)
    return [
        {"loc": ["args", *[str(p) for p in error.absolute_path]], "msg": error.message}
        for error in sorted(validator.iter_errors(args), key=lambda e: list(map(str, e.absolute_path)))
    ]


def decide(
    request_id: uuid.UUID | str,
    user: Any,
    decision: str,
    args: dict[str, Any] | None = None,
    comment: str = "",
    reason_code: str = "",
) -> ApprovalRequest:
    """Record a reviewer's decision; the first decision that settles the request resumes its run.

    Raises:
        NotFound, Forbidden (not a reviewer of the queue, or the run's requester),
        Conflict (already decided: says by whom), Invalid (edited args fail the schema).
    """
    with transaction.atomic():
        request = (
            # No join on decided_by: after waiting on the lock, Postgres re-reads the locked row
            # but not an outer-joined one, so the winner would come back empty.
            ApprovalRequest.objects.select_for_update(of=("self",))
            .select_related("queue")
            .filter(id=request_id)
            .first()
        )
        if request is None:
            raise NotFound("approval request not found")
        if not request.queue.is_reviewer(user):
            raise Forbidden(f"you are not a reviewer of the {request.queue.name!r} queue")
        if request.requested_by_id is not None and request.requested_by_id == user.pk:
            raise Forbidden("you started this run: someone else must decide its action (four-eyes)")
        if request.status != ApprovalRequest.Status.PENDING:
            raise Conflict(_already_decided(request))
        if decision not in Decision.Kind.values:
            raise Invalid([{"loc": ["body", "decision"], "msg": "decision must be approve, reject or edit"}])
        if decision == Decision.Kind.EDIT:
            errors = _schema_errors(request.args_schema, args) if args is not None else [
                {"loc": ["args"], "msg": "an edit needs the new args"}
            ]
            if errors:
                raise Invalid(errors)
            approved_args: Any = args
        elif decision == Decision.Kind.APPROVE:
            approved_args = request.proposed_args
        else:
            approved_args = None
        try:
            with transaction.atomic():
                Decision.objects.create(
                    request=request, user=user, decision=decision, args=args, comment=comment, reason_code=reason_code
                )
        except IntegrityError:
            raise Conflict("you have already decided this request") from None
        outcome = ApprovalRequest.Status.REJECTED if decision == Decision.Kind.REJECT else ApprovalRequest.Status.APPROVED
        resume = {
            "decision": "reject" if outcome == ApprovalRequest.Status.REJECTED else "approve",
            "args": approved_args if approved_args is not None else request.proposed_args,
            "comment": comment,
            "reason_code": reason_code,
            "approval_id": str(request.id),
            "decided_by": user.get_username(),
        }
        if not request.settle(outcome, user, resume, approved_args):
            request.refresh_from_db()
            raise Conflict(_already_decided(request))
        audit(user, f"approval.{decision}", request, comment=comment, reason_code=reason_code, args=args)
        if request.run_id and Run.requeue(request.run_id, Run.Status.WAITING):
            send_run(request.run_id)
            live.publish_run(request.run_id, Run.Status.QUEUED)
        live.publish(live.APPROVALS_GROUP, {"kind": "approval", "approval_id": str(request.id), "status": outcome})
    return request


def _already_decided(request: ApprovalRequest) -> str:
    who = request.decided_by.get_username() if request.decided_by else "the system"
    when = request.decided_at.isoformat() if request.decided_at else "earlier"
    return f"this request is already {request.status}, by {who} at {when}"


def cancel_requests_of_run(run_id: uuid.UUID, actor: Any, reason: str) -> int:
    pending = list(ApprovalRequest.objects.filter(run_id=run_id, status=ApprovalRequest.Status.PENDING))
    for request in pending:
        if ApprovalRequest.objects.filter(id=request.id, status=ApprovalRequest.Status.PENDING).update(
            status=ApprovalRequest.Status.CANCELLED
        ):
            audit(actor, "approval.cancelled", request, reason=reason)
            live.publish(live.APPROVALS_GROUP, {"kind": "approval", "approval_id": str(request.id), "status": "cancelled"})
    return len(pending)
