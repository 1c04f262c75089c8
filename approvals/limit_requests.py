"""The "Budget exceeded, continue?" request of a run paused over one of its limits
(agents/engine/limits.py), and what deciding it does to the run.

The engine pauses the run and asks for the request through its hooks (agents/engine/hooks.py);
deciding it runs `on_limit_request_settled` in the deciding transaction (registered in
approvals/apps.py).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from langgraph.types import Interrupt

from agents.engine.limits import LABELS, LIMIT_ACTION, LIMIT_NAMES, PAUSE, Breach, Limits, record_breach
from agents.engine.models import Run
from agents.engine.signals import announce_run_stopped
from approvals.models import ApprovalRequest
from approvals.services import open_requests_for_interrupts
from console.kernel import audit, live
from console.kernel.errors import Invalid

__all__ = ["on_limit_request_settled", "pause_for_limit"]


def pause_for_limit(run: Run, breach: Breach, limits: Limits) -> ApprovalRequest:
    """Open the "continue over the limit?" request for a run just set `waiting` (same transaction).

    It goes through the gate's request path: the request names the run, so its requester (who
    started the run) may not approve it, and deciding it requeues the run like any gate."""
    new_value = breach.proposed_limit()
    payload = {
        "queue": limits.queue,
        "action": LIMIT_ACTION,
        "args": {breach.limit: new_value},
        "args_schema": breach.args_schema(),
        "summary": (
            f"Budget exceeded, continue? {breach.message}. Approving continues the run with its "
            f"{LABELS[breach.limit]} raised to {breach.format_value(new_value)} (edit to choose another); "
            "rejecting ends it failed."
        ),
    }
    # Not a LangGraph interrupt: the run stopped between steps, and continuing is plain recovery
    # from its checkpoint. The id only has to be unique per run.
    key = f"limit:{uuid.uuid4().hex}"
    open_requests_for_interrupts(run, [Interrupt(value=payload, id=key)])
    request = ApprovalRequest.objects.get(run=run, interrupt_id=key)
    record_breach(run.id, breach, PAUSE, str(request.id))
    return request


def _set_outcome(breaches: list[dict[str, Any]], approval_id: str, state: str, outcome: str) -> list[dict[str, Any]]:
    return [{**b, "state": state, "outcome": outcome} if b.get("approval_id") == approval_id else b for b in breaches]


def on_limit_request_settled(request: ApprovalRequest) -> None:
    """In the deciding transaction: approved → raise the limit (the run is then requeued and
    continues from its checkpoint); rejected → the run ends failed."""
    if request.status == ApprovalRequest.Status.RESPONDED:
        raise Invalid(
            [{"loc": ["body", "decision"], "msg": "this request asks whether the run may go over a limit: approve (or edit the new limit) or reject it"}]
        )
    if request.run_id is None:
        return
    # Locked already, before the request (approvals/services.py `_locked`): this only re-reads it.
    run = Run.objects.select_for_update(no_key=True).filter(id=request.run_id).first()
    if run is None or run.status != Run.Status.WAITING:
        return
    resume = request.resume_value or {}
    who = resume.get("decided_by") or "the system"
    approval_id = str(request.id)
    breach: dict[str, Any] = next((b for b in run.limit_breaches if b.get("approval_id") == approval_id), {})
    if request.status == ApprovalRequest.Status.APPROVED:
        exact = request.exact_approved_args()
        approved = exact if isinstance(exact, dict) else {}
        raised = {k: v for k, v in approved.items() if k in LIMIT_NAMES}
        limits = {**(run.limits or {}), **raised}
        text = ", ".join(f"{LABELS[k]} raised to {v}" for k, v in raised.items())
        run.raise_limits(limits, _set_outcome(run.limit_breaches, approval_id, "continued", f"continued by {who}: {text}"))
        audit.record(request.decided_by, "run.limit_raised", run, approval_id=approval_id, limits=raised)
        return
    comment = resume.get("comment") or ""
    error = f"{breach.get('message') or 'a limit was exceeded'}; continuing was refused by {who}" + (
        f": {comment}" if comment else ""
    )
    if run.fail_waiting(error):
        run.set_limit_breaches(_set_outcome(run.limit_breaches, approval_id, "failed", f"refused by {who}: the run failed"))
        live.publish_run(run.id, Run.Status.FAILED)
        transaction.on_commit(lambda: announce_run_stopped(run.id, Run.Status.FAILED))
