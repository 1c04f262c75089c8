"""Writes that span approval requests, runs and tasks.

Every rule is enforced here, on the server: who may decide (reviewers of the queue, not the
run's requester, not a member of an excluded group), claims, quorum, edits against the gate's
schema, responses, reassignment, and what happens when a request's SLA runs out. Errors come
in the order of docs/architecture.md ("API errors"): 404, 403, 409, then 422.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from django.contrib.auth.models import Group
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from jsonschema import Draft202012Validator
from langgraph.types import Interrupt

from agents.engine.interrupts import (
    AGENT_INBOX,
    ANSWER,
    FREE_FORM,
    GATE,
    ActionDecision,
    InterruptShape,
    ResumeShapeError,
    decision_of_resume,
    describe,
    resume_value,
    tool_args_schemas,
)
from agents.engine.models import Run
from agents.engine.registry import get_agent
from agents.engine.run_queue import send_run
from agents.engine.runtime import compiled_graph
from approvals import notifications
from approvals.action_links import LinkAlreadyUsed
from approvals.decision_read import locked_for_decision
from approvals.models import ActionLink, ApprovalRequest, Decision, Queue
from approvals.shown_args import restore
from console.kernel import audit, live
from console.kernel.errors import Conflict, Forbidden, Invalid, NotFound, StewardError
from console.kernel.models import AuditEvent
from console.kernel.redaction import redact_text
from console.kernel.roles import REVIEWERS, is_admin

__all__ = [
    "bulk_decide",
    "cancel_requests_of_run",
    "claim",
    "decide",
    "decide_resumes",
    "decide_with_link",
    "enforce_sla",
    "may_decide",
    "next_request",
    "on_settled",
    "open_requests_for_interrupts",
    "reassign",
    "reopen_refused_requests",
    "record_automatic_approval",
    "release",
]

log = logging.getLogger(__name__)
DEFAULT_QUEUE = "default"
_PERSON_DECISIONS = (Decision.Kind.APPROVE, Decision.Kind.EDIT, Decision.Kind.REJECT, Decision.Kind.RESPOND)



def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None

def _notify_on_commit(event: str, request: ApprovalRequest) -> None:

    transaction.on_commit(lambda: notifications.notify(event, request))


def _publish(request: ApprovalRequest) -> None:
    live.publish(live.APPROVALS_GROUP, {"kind": "approval", "approval_id": str(request.id), "status": request.status})


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
    tool_schemas: dict[str, dict[str, Any]] | None = None  # read once, for the first interrupt that needs it
    for interrupt in interrupts:
        shape = describe(interrupt.value, interrupt.response_schema)
        if shape.kind != GATE:
            # Now with the graph's tools: an edit is checked against the tool's own schema.
            if tool_schemas is None:
                tool_schemas = _tool_schemas_of(run)
            shape = describe(interrupt.value, interrupt.response_schema, tool_schemas)
            defaults = _shaped_request_fields(run, shape)
        else:
            payload = interrupt.value
            defaults = {
                "queue": _queue_named(str(payload.get("queue") or DEFAULT_QUEUE)),
                "requested_by_id": run.created_by_id,
                "action": str(payload.get("action") or "interrupt")[:200],
                # Shown in lists, notifications and pages; the agent may have quoted its args.
                "summary": redact_text(str(payload.get("summary") or "")),
                "proposed_args": payload.get("args") or {},
                "args_schema": payload.get("args_schema") or {},
                "tool_call_id": str(payload.get("tool_call_id") or "")[:200],
                "condition": str(payload.get("condition") or "")[:200],
            }
        request, created = ApprovalRequest.objects.get_or_create(run=run, interrupt_id=interrupt.id, defaults=defaults)
        if created:
            audit.record(None, "approval.requested", request, run_id=str(run.id), queue=request.queue.name)
            _publish(request)
            _notify_on_commit("approval.requested", request)
            opened.append(request)
    _resume_if_decided_meanwhile(run, [interrupt.id for interrupt in interrupts])
    return opened


def _resume_if_decided_meanwhile(run: Run, interrupt_ids: list[str]) -> None:
    """Parallel interrupts: one decided while the run was resuming with another could not
    requeue the run (it was running). The run's row is locked here (just set waiting), so a
    decision committed before is seen now, and one after sees the run waiting and requeues it."""
    decided = ApprovalRequest.objects.filter(
        run=run,
        interrupt_id__in=interrupt_ids,
        status__in=[ApprovalRequest.Status.APPROVED, ApprovalRequest.Status.REJECTED, ApprovalRequest.Status.RESPONDED],
    )
    if decided.exists() and Run.requeue(run.id, Run.Status.WAITING):
        send_run(run.id)
        live.publish_run(run.id, Run.Status.QUEUED)


def _tool_schemas_of(run: Run) -> dict[str, dict[str, Any]]:
    """The args schemas of the tools in the run's graph (its ToolNodes), for edits of interrupts
    whose value carries no schema (LangChain's middleware, Agent Inbox)."""
    spec = get_agent(run.agent.key)
    return tool_args_schemas(compiled_graph(spec, None)) if spec is not None else {}


def _question_of(value: Any) -> str:
    """The line a reviewer reads first for a free-form interrupt: its text, the `question` of an
    `interrupt({"question": ..., ...})`, else the value as compact JSON (never blank)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("question"), str):
        return str(value["question"])
    return json.dumps(value, ensure_ascii=False, default=str)[:500]


def _shaped_request_fields(run: Run, shape: InterruptShape) -> dict[str, Any]:
    """A request's fields for an interrupt that is not Steward's gate: its first action (or the
    free-form value) in the usual fields, every action with its allowed decisions in
    `interrupt_shape`. Such interrupts name no queue: they go to the default one."""
    first = shape.actions[0] if shape.actions else None
    if first is None:
        summary = _question_of(shape.value)
    else:
        summary = "; ".join(a["description"] or a["name"] for a in shape.actions)
    return {
        "queue": _queue_named(DEFAULT_QUEUE),
        "requested_by_id": run.created_by_id,
        "action": (first["name"] if first else "interrupt")[:200],
        "summary": redact_text(summary),
        "proposed_args": first["args"] if first else {"value": shape.value},
        "args_schema": (first["args_schema"] if first else shape.response_schema) or {},
        "tool_call_id": str(first.get("tool_call_id") or "")[:200] if first else "",
        "interrupt_shape": shape.as_json(),
    }


def record_automatic_approval(
    run_id: str | uuid.UUID | None,
    *,
    key: str,
    queue: str,
    action: str,
    args: dict[str, Any],
    summary: str,
    tool_call_id: str,
    rule: str,
) -> ApprovalRequest:
    """A gated action that needs no review (its condition does not hold) passes with a recorded
    automatic approval. Idempotent per run and `key`: a re-run node records it once."""
    run = Run.objects.filter(id=run_id).first() if run_id else None
    with transaction.atomic():
        request, created = ApprovalRequest.objects.get_or_create(
            run=run,
            interrupt_id=f"auto:{key}"[:64],
            defaults={
                "queue": _queue_named(queue),
                "requested_by_id": run.created_by_id if run else None,
                "action": action[:200],
                "summary": summary,
                "proposed_args": args,
                "tool_call_id": tool_call_id[:200],
                "condition": rule[:200],
            },
        )
        if created:
            Decision.objects.create(
                request=request, user=None, decision=Decision.Kind.APPROVE, proposed_args=args,
                approved_args=args, automatic_rule=rule,
            )
            resume = _resume_value(request, "approve", args, rule, "", "condition")
            request.settle(ApprovalRequest.Status.APPROVED, None, resume, args, automatic_rule=rule)
            audit.record(None, "approval.auto_approved", request, rule=rule, run_id=str(run_id or ""))
    return request


# --- deciding -------------------------------------------------------------------------------


def schema_errors(schema: dict[str, Any], args: Any, action: str = "this action") -> list[dict[str, Any]]:
    """Field errors of an edit's `args` against the action's JSON schema; a missing field and an
    undeclared one are each named in their `loc`.

    An edit changes the action's arguments and never adds one: a schema that does not say
    otherwise (the gate's, from pydantic, does not) takes no undeclared field.
    """
    if not isinstance(args, dict):
        return [{"loc": ["body", "args"], "msg": "args must be an object"}]
    if not schema:
        return []
    if "properties" in schema and "additionalProperties" not in schema:
        schema = {**schema, "additionalProperties": False}
    errors = []
    for error in sorted(Draft202012Validator(schema).iter_errors(args), key=lambda e: list(map(str, e.absolute_path))):
        path = [str(p) for p in error.absolute_path]
        if error.validator == "required" and not path:
            missing = [name for name in error.validator_value if name not in args]
            path = missing[:1]
        if error.validator == "additionalProperties" and error.validator_value is False:
            errors += [
                {"loc": ["body", "args", *path, name], "msg": f"{name!r} is not an argument of {action}"}
                for name in _undeclared(error.schema, error.instance)
            ]
            continue
        errors.append({"loc": ["body", "args", *path], "msg": error.message})
    return errors


def _undeclared(schema: Any, instance: Any) -> list[str]:
    """The names of `instance` that `schema` neither declares nor matches by pattern."""
    if not isinstance(schema, dict) or not isinstance(instance, dict):
        return []
    declared = schema.get("properties") or {}
    patterns = schema.get("patternProperties") or {}
    return sorted(str(n) for n in instance if n not in declared and not any(re.search(p, str(n)) for p in patterns))


def args_diff(proposed: Any, approved: Any) -> list[dict[str, Any]]:
    """What an edit changed, field by field."""
    if not isinstance(proposed, dict) or not isinstance(approved, dict):
        return [] if proposed == approved else [{"field": "", "from": proposed, "to": approved}]
    return [
        {"field": key, "from": proposed.get(key), "to": approved.get(key)}
        for key in sorted(set(proposed) | set(approved))
        if proposed.get(key) != approved.get(key)
    ]


def _resume_value(
    request: ApprovalRequest, decision: str, args: Any, comment: str, reason_code: str, decided_by: str
) -> dict[str, Any]:
    return {
        "decision": decision,
        "args": args,
        "comment": comment,
        "reason_code": reason_code,
        "approval_id": str(request.id),
        "decided_by": decided_by,
    }


def _request_uuid(request_id: uuid.UUID | str) -> uuid.UUID:
    try:
        return uuid.UUID(str(request_id))
    except ValueError:
        raise NotFound("approval request not found") from None


def _locked(request_id: uuid.UUID | str, decider: Any = None) -> ApprovalRequest:
    """Lock the request's run, then the request, until the transaction ends.

    The one lock order of every write that touches a run and its requests (docs/architecture.md,
    "Locks"): the run first, then its requests, then the audit log. Cancelling a run locks it the
    same way (agents/engine/services.py), so a decision and a cancel queue up on the run's row
    instead of each holding what the other waits for (a deadlock, and a 500 for one of them).

    With a `decider`, the request comes with what deciding it needs to know about them
    (`_DeciderFacts`), read in the same statement.
    """
    request_id = _request_uuid(request_id)
    # A request never changes its run: the run is found and locked in one statement.
    its_run = ApprovalRequest.objects.filter(id=request_id).values("run_id")
    locked_runs = Run.objects.select_for_update(no_key=True, of=("self",)).filter(id__in=its_run)
    if not list(locked_runs.values_list("id", flat=True)):
        # No run (or no request): lock the request alone, before reading anything about it.
        if not list(ApprovalRequest.objects.select_for_update().filter(id=request_id).values_list("id", flat=True)):
            raise NotFound("approval request not found")
    # A statement of its own, after the lock is held: its snapshot sees every decision committed
    # before (subqueries are read from the statement's snapshot, which a wait on the row's lock
    # does not renew). No join on nullable users: after waiting on the lock, Postgres re-reads
    # the locked row but not an outer-joined one.
    found = ApprovalRequest.objects.select_for_update(of=("self",)).select_related("queue").filter(id=request_id)
    if decider is not None:
        found = found.annotate(**_decider_facts(decider))
    request = found.first()
    if request is None:
        raise NotFound("approval request not found")
    return request


_VOTES_FOR = (Decision.Kind.APPROVE, Decision.Kind.EDIT)


def _decider_facts(user: Any) -> dict[str, Any]:
    """What `decide` checks about the decider and the votes so far, as subqueries of the
    request's own read: one query however many groups the user and the queue have."""
    # Votes set aside when the agent refused the answer they led to no longer count.
    current = Decision.objects.filter(superseded_at__isnull=True)
    votes_for = (
        current.filter(request_id=OuterRef("pk"), user__isnull=False, decision__in=_VOTES_FOR)
        .order_by()
        .values("request_id")
        .annotate(n=Count("*"))
        .values("n")
    )
    return {
        "decider_reviews": Exists(
            Queue.reviewer_groups.through.objects.filter(queue_id=OuterRef("queue_id"), group__user=user.pk)
        ),
        "decider_excluded": Exists(
            Queue.excluded_groups.through.objects.filter(queue_id=OuterRef("queue_id"), group__user=user.pk)
        ),
        "decider_voted": Exists(current.filter(request_id=OuterRef("pk"), user=user.pk)),
        "decider_votes_before": Coalesce(Subquery(votes_for, output_field=IntegerField()), 0),
        "decider_edited_before": Exists(current.filter(request_id=OuterRef("pk"), decision=Decision.Kind.EDIT)),
        "decider_decided_before": Exists(Decision.objects.filter(request_id=OuterRef("pk"))),
    }


@dataclass(frozen=True)
class _DeciderFacts:
    """What `decide` checks about its decider, read with the request (`_decider_facts`)."""

    reviews: bool  # in one of the queue's reviewer groups
    excluded: bool  # in one of the queue's excluded groups
    voted: bool  # has a decision on the request already
    votes_before: int  # approvals and edits by people so far (toward the quorum)
    edited_before: bool  # someone edited the args already
    decided_before: bool  # the request has a decision already, a superseded one included

    @classmethod
    def of(cls, request: ApprovalRequest) -> _DeciderFacts:
        # Annotated on the request by `_decider_facts`, each as `decider_<field>`.
        return cls(**{field.name: vars(request)[f"decider_{field.name}"] for field in fields(cls)})


def _locked_for_decision(request_id: uuid.UUID | str, user: Any) -> tuple[ApprovalRequest, _DeciderFacts]:
    """`_locked` with the decider's facts: on Postgres in hand-written statements
    (approvals/decision_read.py), which also bring the request's requester for the answer."""
    if connection.vendor != "postgresql":
        request = _locked(request_id, decider=user)
        return request, _DeciderFacts.of(request)
    found = locked_for_decision(_request_uuid(request_id), user.pk)
    if found is None:
        raise NotFound("approval request not found")
    request, facts = found
    return request, _DeciderFacts(**facts)


def _check_may_decide(request: ApprovalRequest, user: Any, facts: _DeciderFacts | None = None) -> None:
    """403s: the queue's reviewers only, never the run's requester, never an excluded group.
    Except that the run's requester may answer where the queue lets them (`requester_may_answer`:
    by default a question put to them), reviewer or not; separation of duties still applies.
    Without `facts` (read with the request), the groups are queried."""
    if not request.is_put_to(user):
        reviews = (is_admin(user) or facts.reviews) if facts is not None else request.queue.is_reviewer(user)
        if not reviews:
            raise Forbidden(f"you are not a reviewer of the {request.queue.name!r} queue")
        if request.requested_by_id is not None and request.requested_by_id == user.pk:
            if request.run_id is None:
                raise Forbidden("you requested this: someone else must decide it (four-eyes)")
            raise Forbidden("you started this run: someone else must decide its action (four-eyes)")
    if facts.excluded if facts is not None else request.queue.excludes(user):
        raise Forbidden(f"separation of duties: your group may not decide in the {request.queue.name!r} queue")


def may_decide(request: ApprovalRequest, user: Any) -> bool:
    """Whether `user` may decide the request (the 403s of `decide`), without deciding it."""
    try:
        _check_may_decide(request, user)
    except Forbidden:
        return False
    return True


def decide_resumes(run: Run, user: Any, values: dict[str, Any]) -> list[ApprovalRequest]:
    """Resume values a client sent for the run's pending interrupts (the LangGraph API's
    `Command(resume={interrupt_id: value})`), each recorded as `user`'s decision on the approval
    request of that interrupt, in the interrupt's own shape (agents/engine/interrupts.py). All
    of them or none: one refused value leaves every request as it was.

    Raises:
        NotFound: an id is not a pending interrupt of the run. Forbidden, Conflict, Invalid: as
        `decide`, for any one of them.
    """
    with transaction.atomic():
        Run.lock(run.id)
        pending = {
            r.interrupt_id: r for r in ApprovalRequest.objects.pending().filter(run_id=run.id).exclude(interrupt_id="")
        }
        unknown = sorted(set(values) - set(pending))
        if unknown:
            raise NotFound(f"no pending interrupt {unknown[0]!r} on this run (pending: {sorted(pending)})")
        decided = []
        for interrupt_id, value in values.items():
            request = pending[interrupt_id]
            try:
                kwargs = decision_of_resume(request.shape if request.interrupt_shape else None, value)
            except ResumeShapeError as exc:
                raise Invalid([{"loc": ["body", "command", "resume", interrupt_id], "msg": str(exc)}]) from None
            decided.append(decide(request.id, user, **kwargs))
    return decided


def _cancelled_with_run(run_id: uuid.UUID) -> str:
    """What happened to a request that went with its run (cancelled, or given up by the sweeper)."""
    # The run exists: its requests are deleted with it.
    status, finished_at = Run.objects.filter(id=run_id).values_list("status", "finished_at").get()
    what = "was cancelled" if status == Run.Status.CANCELLED else f"ended {status}"
    canceller = (
        AuditEvent.objects.filter(object_type=Run._meta.label_lower, object_id=str(run_id), action="run.cancelled")
        .exclude(actor=None)
        .values_list("actor__username", flat=True)
        .last()
        if status == Run.Status.CANCELLED
        else None
    )
    by = f" by {canceller}" if canceller else ""
    when = f" at {finished_at.isoformat()}" if finished_at else ""
    return f"this request was cancelled with its run: run {run_id} {what}{by}{when}"


def _state_conflict(request: ApprovalRequest) -> str:
    if request.status == ApprovalRequest.Status.CANCELLED and request.run_id is not None:
        return _cancelled_with_run(request.run_id)
    who = request.decided_by.get_username() if request.decided_by else (request.decided_automatically_by or "the system")
    when = request.decided_at.isoformat() if request.decided_at else "earlier"
    return f"this request is already {request.status}, by {who} at {when}"


def _check_pending_and_free(request: ApprovalRequest, user: Any, now: datetime) -> None:
    """409s: decided, expired or cancelled; or claimed by someone else."""
    if request.status != ApprovalRequest.Status.PENDING:
        raise Conflict(_state_conflict(request))
    if request.held_by_other(user, now):
        holder = request.claimed_by.get_username() if request.claimed_by else "someone"
        until = request.claimed_until.isoformat() if request.claimed_until else ""
        raise Conflict(f"{holder} holds this request until {until}")


# What settling a request does beyond resuming its run, by its action (a prompt promotion moves
# a label; a run paused over a limit gets the limit raised, or ends).
_SETTLE_HANDLERS: dict[str, Callable[[ApprovalRequest], None]] = {}


def on_settled(action: str, handler: Callable[[ApprovalRequest], None]) -> None:
    """Run `handler(request)` in the deciding transaction whenever a request for `action` settles,
    before its run (if it has one) is requeued. A StewardError it raises refuses the decision."""
    _SETTLE_HANDLERS[action] = handler


def _settle(
    request: ApprovalRequest,
    status: str,
    user: Any,
    resume: Any,
    approved_args: Any,
    rule: str = "",
    approvals: int | None = None,
) -> None:
    if not request.settle(status, user, resume, approved_args, automatic_rule=rule, approvals=approvals):
        request.refresh_from_db()
        raise Conflict(_state_conflict(request))
    handler = _SETTLE_HANDLERS.get(request.action)
    if handler is not None:
        handler(request)
    # The run's row is locked already (`_locked`): requeueing it waits for nobody.
    if request.run_id and Run.requeue(request.run_id, Run.Status.WAITING):
        send_run(request.run_id)
        live.publish_run(request.run_id, Run.Status.QUEUED)
    _publish(request)


def decide(
    request_id: uuid.UUID | str,
    user: Any,
    decision: str,
    args: dict[str, Any] | None = None,
    comment: str = "",
    reason_code: str = "",
    value: Any = None,
    actions: list[dict[str, Any]] | None = None,
) -> ApprovalRequest:
    """Record a reviewer's decision. The request's outcome is set once: a rejection or a response
    ends it; approvals end it when the queue's quorum is reached. The run resumes on commit.

    Args:
        decision: "approve", "reject", "edit" (approve with new `args`) or "respond" (send
            `comment` back to the agent instead of deciding the action); "answer" (`value`,
            any JSON) for a free-form interrupt.
        actions: for an interrupt with several actions (LangChain's batched middleware), one
            {"decision", "args"?, "comment"?} per action, in order.

    Returns:
        The request, settled or (quorum not reached yet) still pending.

    Raises:
        NotFound; Forbidden (not a reviewer of the queue, the run's requester, an excluded
        group); Conflict (decided, expired, cancelled, held by someone else, already voted);
        Invalid (unknown decision, reason code not in the queue's list, edited args failing
        the gate's schema, a response without a message).
    """
    now = timezone.now()
    with transaction.atomic():
        request, facts = _locked_for_decision(request_id, user)
        _check_may_decide(request, user, facts)
        _check_pending_and_free(request, user, now)
        if facts.voted:
            raise Conflict("you have already voted on this request; it waits for other reviewers")
        if request.interrupt_shape:
            # Not Steward's gate: the interrupt's own shape says what it takes and how it resumes.
            return _decide_shaped(request, user, facts, decision, args, comment, reason_code, value, actions)
        errors: list[dict[str, Any]] = []
        if decision not in Decision.Kind.values:
            errors.append({"loc": ["body", "decision"], "msg": "decision must be approve, reject, edit or respond"})
        if reason_code and reason_code not in (request.queue.reason_codes or []):
            errors.append(
                {"loc": ["body", "reason_code"], "msg": f"reason code must be one of {request.queue.reason_codes}"}
            )
        if decision == Decision.Kind.EDIT and args is not None:
            # Edits start from the redacted copy: a value sent back as shown keeps its original.
            args = restore(args, request.proposed_args)
        if decision == Decision.Kind.EDIT:
            errors += schema_errors(request.args_schema, args, request.action) if args is not None else [
                {"loc": ["body", "args"], "msg": "an edit needs the new args"}
            ]
        if request.run_id is None and decision in (Decision.Kind.EDIT, Decision.Kind.RESPOND):
            errors.append({"loc": ["body", "decision"], "msg": "this request has no run: approve or reject it"})
        if decision == Decision.Kind.RESPOND and not comment.strip():
            errors.append({"loc": ["body", "comment"], "msg": "a response needs a message for the agent"})
        if errors:
            raise Invalid(errors)

        proposed = request.proposed_args
        approved = args if decision == Decision.Kind.EDIT else proposed
        # No savepoint: the vote was checked under the request's lock (`facts.voted`); a
        # duplicate still refused by the unique constraint ends this whole (atomic) decision.
        try:
            made = Decision.objects.create(
                request=request,
                user=user,
                decision=decision,
                args=args,
                proposed_args=proposed,
                approved_args=approved if decision in _VOTES_FOR else None,
                args_diff=args_diff(proposed, approved) if decision == Decision.Kind.EDIT else [],
                comment=comment,
                reason_code=reason_code,
            )
        except IntegrityError:
            raise Conflict("you have already voted on this request") from None
        _know_decisions(request, facts, made)
        audit.record(user, f"approval.{decision}", request, comment=comment, reason_code=reason_code, args=args)

        who = user.get_username()
        if decision == Decision.Kind.REJECT:
            resume = _resume_value(request, "reject", proposed, comment, reason_code, who)
            _settle(request, ApprovalRequest.Status.REJECTED, user, resume, None)
        elif decision == Decision.Kind.RESPOND:
            resume = _resume_value(request, "respond", proposed, comment, reason_code, who)
            _settle(request, ApprovalRequest.Status.RESPONDED, user, resume, None)
        else:
            votes = facts.votes_before + 1
            if votes >= request.queue.required_approvals:
                # With a quorum, the last edit wins (this one, if it is one); without edits, the
                # proposal runs.
                final = args if decision == Decision.Kind.EDIT else _last_edit_args(request, facts, proposed)
                resume = _resume_value(request, "approve", final, comment, reason_code, who)
                _settle(request, ApprovalRequest.Status.APPROVED, user, resume, final, approvals=votes)
            else:
                request.count_approvals(votes)
                _publish(request)
    return request


def _know_decisions(request: ApprovalRequest, facts: _DeciderFacts, made: Decision) -> None:
    """The request's decisions after `made`, kept on it when known without a query (it had none
    before): the API answers with them instead of reading them back."""
    request.decisions_known = None if facts.decided_before else [made]


def _last_edit_args(request: ApprovalRequest, facts: _DeciderFacts, proposed: Any) -> Any:
    """The args of the latest edit before this decision, as the reviewer typed them (stored
    redacted); `proposed` without one (queried only when `facts` says there is one)."""
    last_edit = (
        Decision.objects.filter(request=request, decision=Decision.Kind.EDIT, superseded_at__isnull=True)
        .order_by("-created_at")
        .first()
        if facts.edited_before
        else None
    )
    return last_edit.exact()["args"] if last_edit is not None else proposed


def bulk_decide(
    request_ids: Sequence[uuid.UUID | str], user: Any, decision: str, comment: str = "", reason_code: str = ""
) -> list[dict[str, Any]]:
    """Decide several requests with one reason; each is checked against its own policy alone."""
    results = []
    for request_id in dict.fromkeys(str(r) for r in request_ids):
        try:
            request = decide(request_id, user, decision, comment=comment, reason_code=reason_code)
            results.append({"id": request_id, "ok": True, "status": request.status, "detail": ""})
        except StewardError as exc:
            results.append({"id": request_id, "ok": False, "status": exc.status, "detail": exc.detail})
    return results


# --- interrupts in other shapes (agents/engine/interrupts.py) ---------------------------------


def _edit_errors(action: dict[str, Any], args: Any, loc: list[Any]) -> list[dict[str, Any]]:
    """An edit of a tool's args: only the fields the tool declares (with no schema known, only
    the keys already proposed), valid against its schema."""
    if not isinstance(args, dict):
        return [{"loc": [*loc, "args"], "msg": "an edit needs the new args (an object)"}]
    schema = action.get("args_schema") or {}
    declared = set(schema.get("properties") or {}) if schema.get("properties") else set(action["args"])
    extra = sorted(set(args) - declared)
    if extra:
        return [{"loc": [*loc, "args", name], "msg": f"{action['name']} takes no argument {name!r}"} for name in extra]
    return [{**error, "loc": [*loc, *error["loc"][1:]]} for error in schema_errors(schema, args)]


def _shaped_choices(
    request: ApprovalRequest, decision: str, args: Any, comment: str, actions: list[dict[str, Any]] | None
) -> tuple[list[ActionDecision], list[dict[str, Any]]]:
    """The reviewer's decision per action of the interrupt, and the 422 errors of what it does not allow."""
    shape = request.shape
    if actions is None:
        if len(shape.actions) != 1:
            msg = f"this request has {len(shape.actions)} actions: send one decision per action in `actions`, in order"
            return [], [{"loc": ["body", "actions"], "msg": msg}]
        locs: list[list[Any]] = [["body"]]
        entries = [{"decision": decision, "args": args, "comment": comment}]
    else:
        if len(actions) != len(shape.actions):
            msg = f"`actions` needs one decision per action: {len(shape.actions)}, in order"
            return [], [{"loc": ["body", "actions"], "msg": msg}]
        entries, locs = actions, [["body", "actions", i] for i in range(len(actions))]
    chosen: list[ActionDecision] = []
    errors: list[dict[str, Any]] = []
    for action, entry, loc in zip(shape.actions, entries, locs, strict=True):
        kind, note = str(entry.get("decision") or ""), str(entry.get("comment") or "")
        edited = entry.get("args")
        if kind not in action["allowed"]:
            errors.append({"loc": [*loc, "decision"], "msg": f"{action['name']} allows only: {', '.join(action['allowed'])}"})
        elif kind == "edit":
            # Edits start from the redacted copy: a value sent back as shown keeps its original.
            edited = restore(edited, action["args"]) if edited is not None else None
            errors += _edit_errors(action, edited, loc)
        elif kind == "respond" and not note.strip():
            errors.append({"loc": [*loc, "comment"], "msg": "a response needs a message for the agent"})
        chosen.append(ActionDecision(kind, edited if kind == "edit" else None, note))
    return chosen, errors


def _shaped_outcome(chosen: Sequence[ActionDecision]) -> tuple[str, str]:
    """(the Decision's kind, the request's status) for the decisions on an interrupt's actions."""
    kinds = {c.decision for c in chosen}
    if kinds & {"approve", "edit"}:
        return ("edit" if "edit" in kinds else "approve"), ApprovalRequest.Status.APPROVED
    if "reject" in kinds:
        return "reject", ApprovalRequest.Status.REJECTED
    return "respond", ApprovalRequest.Status.RESPONDED


def _decide_shaped(
    request: ApprovalRequest,
    user: Any,
    facts: _DeciderFacts,
    decision: str,
    args: Any,
    comment: str,
    reason_code: str,
    value: Any,
    actions: list[dict[str, Any]] | None,
) -> ApprovalRequest:
    """`decide` for an interrupt that is not Steward's gate (the request's row is locked): check
    the answer against what the interrupt allows, resume the agent in its own shape."""
    shape = request.shape
    errors: list[dict[str, Any]] = []
    if reason_code and reason_code not in (request.queue.reason_codes or []):
        errors.append({"loc": ["body", "reason_code"], "msg": f"reason code must be one of {request.queue.reason_codes}"})
    chosen: list[ActionDecision] = []
    if shape.kind == FREE_FORM:
        if decision != ANSWER:
            errors.append({"loc": ["body", "decision"], "msg": "this interrupt takes an answer: decision \"answer\" with a value"})
        elif value is None:
            errors.append({"loc": ["body", "value"], "msg": "an answer needs a value (any JSON)"})
        elif shape.response_schema:
            errors += [
                {"loc": ["body", "value", *map(str, e.absolute_path)], "msg": e.message}
                for e in Draft202012Validator(shape.response_schema).iter_errors(value)
            ]
    elif decision == ANSWER:
        errors.append({"loc": ["body", "decision"], "msg": f"this interrupt takes decisions: {', '.join(shape.allowed)}"})
    else:
        chosen, choice_errors = _shaped_choices(request, decision, args, comment, actions)
        errors += choice_errors
    if errors:
        raise Invalid(errors)

    status: str
    if shape.kind == FREE_FORM:
        kind, status, approved = ANSWER, ApprovalRequest.Status.RESPONDED, None
        recorded: Any = {"value": value}
    else:
        kind, status = _shaped_outcome(chosen)
        finals = [c.args if c.decision == "edit" else a["args"] for a, c in zip(shape.actions, chosen, strict=True)]
        approved = (finals[0] if len(finals) == 1 else finals) if status == ApprovalRequest.Status.APPROVED else None
        recorded = {"actions": [{"decision": c.decision, "args": c.args, "comment": c.comment} for c in chosen]}
        # Agent Inbox's "ignore" is how a reviewer rejects there: say so in the record.
        if shape.kind == AGENT_INBOX and kind == "reject" and not reason_code:
            reason_code = "ignored"
    try:  # no savepoint, as in `decide`
        made = Decision.objects.create(
            request=request, user=user, decision=kind, args=recorded, proposed_args=request.proposed_args,
            approved_args=approved, args_diff=args_diff(request.proposed_args, approved) if kind == "edit" else [],
            comment=comment or "; ".join(c.comment for c in chosen if c.comment), reason_code=reason_code,
        )
    except IntegrityError:
        raise Conflict("you have already voted on this request") from None
    _know_decisions(request, facts, made)
    audit.record(user, f"approval.{kind}", request, comment=comment, reason_code=reason_code, args=recorded)

    votes: int | None = None
    if status == ApprovalRequest.Status.APPROVED and len(chosen) and all(c.decision in ("approve", "edit") for c in chosen):
        votes = facts.votes_before + 1  # this decision is an approve or an edit
        if votes < request.queue.required_approvals:
            request.count_approvals(votes)
            _publish(request)
            return request
    _settle(request, status, user, resume_value(shape, chosen, value), approved, approvals=votes)
    return request


# --- claims -----------------------------------------------------------------------------------


def claim(request_id: uuid.UUID | str, user: Any) -> ApprovalRequest:
    """Hold a request for the queue's claim time, so two reviewers do not work on it at once.

    Raises:
        NotFound, Forbidden (may not decide here), Conflict (decided, or held by someone else,
        naming them and until when — for admins too).
    """
    now = timezone.now()
    with transaction.atomic():
        request = _locked(request_id)
        _check_may_decide(request, user)
        if request.requested_by_id is not None and request.requested_by_id == user.pk:
            # Claims keep reviewers apart; the run's requester answers without holding them off.
            raise Forbidden("you started this run: answer its request without claiming it")
        _check_pending_and_free(request, user, now)
        request.claim_for(user, now)
        audit.record(user, "approval.claimed", request, until=_iso(request.claimed_until))
        _publish(request)
    return request


def release(request_id: uuid.UUID | str, user: Any) -> ApprovalRequest:
    """Give a claim back: one's own, or anyone's for an admin."""
    now = timezone.now()
    with transaction.atomic():
        request = _locked(request_id)
        if not request.queue.is_reviewer(user):
            raise Forbidden(f"you are not a reviewer of the {request.queue.name!r} queue")
        held = request.claimed_by_id and request.claimed_until and request.claimed_until > now
        if not held:
            raise Conflict("this request is not claimed")
        if request.claimed_by_id != user.pk and not is_admin(user):
            raise Forbidden("only the holder or an admin may release this claim")
        holder = request.claimed_by_id
        request.release_claim()
        audit.record(user, "approval.released", request, holder=holder)
        _publish(request)
    return request


def next_request(user: Any, queue_name: str | None = None) -> ApprovalRequest | None:
    """Claim and return the request due first that nobody holds, in the queues `user` may decide.

    On Postgres `FOR UPDATE SKIP LOCKED` lets many reviewers ask at once and never get the same one.
    """
    now = timezone.now()
    candidates = (
        ApprovalRequest.objects.pending()
        .visible_to(user)
        .unclaimed(now)
        .exclude(requested_by=user)
        .not_excluding(user)
        .exclude(Exists(Decision.objects.filter(request_id=OuterRef("pk"), user=user.pk, superseded_at__isnull=True)))
        .order_by("due_at", "created_at", "id")
    )
    if queue_name:
        candidates = candidates.filter(queue__name=queue_name)
    with transaction.atomic():
        locking = candidates.select_for_update(skip_locked=True, of=("self",))
        request = (locking if connection.vendor == "postgresql" else candidates).select_related("queue").first()
        if request is None:
            return None
        request.claim_for(user, now)
        audit.record(user, "approval.claimed", request, until=_iso(request.claimed_until), via="next")
        _publish(request)
    return request


def reassign(request_id: uuid.UUID | str, user: Any, queue_name: str, reason: str) -> ApprovalRequest:
    """Move a pending request to another queue, with a reason (a reviewer of it, or an admin)."""
    with transaction.atomic():
        request = _locked(request_id)
        if not request.queue.is_reviewer(user):
            raise Forbidden(f"you are not a reviewer of the {request.queue.name!r} queue")
        if request.requested_by_id is not None and request.requested_by_id == user.pk:
            # Moved to a queue that lets its requester answer, it would be theirs to approve.
            raise Forbidden("you started this run: someone else must move its request (four-eyes)")
        if request.status != ApprovalRequest.Status.PENDING:
            raise Conflict(_state_conflict(request))
        errors = []
        target = Queue.objects.filter(name=queue_name).first()
        if target is None:
            errors.append({"loc": ["body", "queue"], "msg": f"no queue named {queue_name!r}"})
        elif target.id == request.queue_id:
            errors.append({"loc": ["body", "queue"], "msg": "the request is already in that queue"})
        if not reason.strip():
            errors.append({"loc": ["body", "reason"], "msg": "say why it moves"})
        if errors:
            raise Invalid(errors)
        assert target is not None
        source = request.queue.name
        request.move_to(target)
        audit.record(user, "approval.reassigned", request, source=source, target=target.name, reason=reason)
        _publish(request)
    return request


# --- time -------------------------------------------------------------------------------------


def enforce_sla(now: datetime | None = None, batch: int = 200) -> dict[str, int]:
    """Apply each overdue request's queue rule: escalate, decide automatically, or notify once.

    Every automatic action is recorded (a Decision with its rule, and the audit log).
    """
    now = now or timezone.now()
    counts = {"escalated": 0, "approved": 0, "rejected": 0, "notified": 0}
    overdue = list(
        ApprovalRequest.objects.pending()
        .filter(due_at__lt=now)
        .filter(Q(breach_notified_at__isnull=True) | ~Q(queue__timeout_action=Queue.TimeoutAction.WAIT))
        .values_list("id", flat=True)[:batch]
    )
    for request_id in overdue:
        try:
            with transaction.atomic():
                request = _locked(request_id)
                if request.status != ApprovalRequest.Status.PENDING or not request.due_at or request.due_at >= now:
                    continue
                outcome = _apply_timeout(request, now)
                if outcome:
                    counts[outcome] += 1
        except StewardError:
            log.info("SLA rule skipped request %s: it changed meanwhile", request_id)
    if any(counts.values()):
        log.info("SLA: %s", counts)
    return counts


def _apply_timeout(request: ApprovalRequest, now: datetime) -> str | None:
    queue = request.queue
    rule = f"sla: {queue.name} is due after {queue.sla_minutes} min, then {queue.timeout_action}"
    first_breach = request.breach_notified_at is None
    if first_breach:
        request.mark_breach_notified(now)
        audit.record(None, "approval.sla_breached", request, rule=rule, due_at=request.due_at.isoformat() if request.due_at else "")
        _notify_on_commit("approval.sla_breached", request)
    action = queue.timeout_action
    if action == Queue.TimeoutAction.ESCALATE and queue.escalation_queue_id:
        target = queue.escalation_queue
        assert target is not None
        request.escalate_to(target, now)
        audit.record(None, "approval.escalated", request, rule=rule, source=queue.name, target=target.name, automatic=True)
        _notify_on_commit("approval.escalated", request)
        _publish(request)
        return "escalated"
    if action in (Queue.TimeoutAction.APPROVE, Queue.TimeoutAction.REJECT):
        approve = action == Queue.TimeoutAction.APPROVE
        if request.interrupt_shape:
            return _time_out_shaped(request, approve, rule) or ("notified" if first_breach else None)
        kind = Decision.Kind.APPROVE if approve else Decision.Kind.REJECT
        args = request.proposed_args
        Decision.objects.create(
            request=request, user=None, decision=kind, proposed_args=args,
            approved_args=args if approve else None, automatic_rule=rule, reason_code="" if approve else "timeout",
            comment=f"decided automatically: {rule}",
        )
        resume = _resume_value(request, kind.value, args, f"decided automatically: {rule}", "" if approve else "timeout", "sla")
        status = ApprovalRequest.Status.APPROVED if approve else ApprovalRequest.Status.REJECTED
        _settle(request, status, None, resume, args if approve else None, rule=rule)
        audit.record(None, f"approval.auto_{'approved' if approve else 'rejected'}", request, rule=rule, automatic=True)
        return "approved" if approve else "rejected"
    return "notified" if first_breach else None


def _time_out_shaped(request: ApprovalRequest, approve: bool, rule: str) -> str | None:
    """The queue's timeout decision on an interrupt in another shape, resumed in that shape; None
    (it keeps waiting) when the interrupt does not take it (a question takes only an answer)."""
    shape = request.shape
    kind = "approve" if approve else "reject"
    if shape.kind == FREE_FORM or any(kind not in action["allowed"] for action in shape.actions):
        return None
    note = f"decided automatically: {rule}"
    chosen = [ActionDecision(kind, None, note) for _ in shape.actions]
    finals = [action["args"] for action in shape.actions]
    approved = (finals[0] if len(finals) == 1 else finals) if approve else None
    Decision.objects.create(
        request=request, user=None, decision=kind, proposed_args=request.proposed_args, approved_args=approved,
        args={"actions": [{"decision": kind, "args": None, "comment": note} for _ in chosen]},
        automatic_rule=rule, reason_code="" if approve else "timeout", comment=note,
    )
    status = ApprovalRequest.Status.APPROVED if approve else ApprovalRequest.Status.REJECTED
    _settle(request, status, None, resume_value(shape, chosen), approved, rule=rule)
    audit.record(None, f"approval.auto_{'approved' if approve else 'rejected'}", request, rule=rule, automatic=True)
    return "approved" if approve else "rejected"


def cancel_requests_of_run(run_id: uuid.UUID, actor: Any, reason: str) -> int:
    """Cancel the pending requests of a run the caller has just ended (its row is locked).

    All of them are locked first, in id order, and only then audited: the audit log's lock comes
    last (docs/architecture.md, "Locks"), never between two row locks.
    """
    pending = list(
        ApprovalRequest.objects.select_for_update()
        .filter(run_id=run_id, status=ApprovalRequest.Status.PENDING)
        .order_by("id")
    )
    for request in pending:
        if request.cancel():
            audit.record(actor, "approval.cancelled", request, reason=reason)
            _publish(request)
    return len(pending)


def reopen_refused_requests(run: Run, errors: dict[str, str]) -> list[ApprovalRequest]:
    """Open again the requests of the run's interrupts whose answers the agent refused (interrupt
    id → the agent's error), inside the transaction that sets the run waiting at them again
    (agents/engine/runtime.py; the run's row is locked). Each keeps the error for the reviewer,
    is audited and announced; its reviewers are told again, as for a new request."""
    found = list(
        ApprovalRequest.objects.select_for_update()
        .select_related("queue")
        .filter(run_id=run.id, interrupt_id__in=list(errors))
        .order_by("id")
    )
    reopened = [request for request in found if request.reopen_after_refusal(errors[request.interrupt_id])]
    for request in reopened:
        audit.record(None, "approval.answer_refused", request, run_id=str(run.id), error=request.last_resume_error)
        _publish(request)
        _notify_on_commit("approval.requested", request)
    return reopened


def decide_with_link(link: ActionLink, user: Any, comment: str = "", reason_code: str = "") -> ApprovalRequest:
    """Use the link up and decide its request with its decision, in one transaction: a refused
    decision rolls back and leaves the link usable.

    Raises:
        LinkAlreadyUsed: the link was used meanwhile (of two uses of one link, one decides).
        StewardError: the decision was refused (`decide`).
    """
    with transaction.atomic():
        # Used up first, by a conditional update: of two POSTs of one link, one decides.
        if not ActionLink.objects.filter(id=link.id, used_at__isnull=True).update(used_at=timezone.now()):
            raise LinkAlreadyUsed
        return decide(link.request_id, user, link.decision, comment=comment, reason_code=reason_code)
