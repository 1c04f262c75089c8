"""The approvals side of the run engine's hooks (agents/engine/hooks.py), registered in
approvals/apps.py: the engine reaches approvals only through these."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agents.engine.models import Run
from approvals import approved_now
from approvals.limit_requests import pause_for_limit
from approvals.models import ApprovalRequest
from approvals.notifications import notify_dead_letter
from approvals.services import cancel_requests_of_run, open_requests_for_interrupts, reopen_refused_requests

__all__ = [
    "breakpoint_answer", "cancel_requests_of_run", "decided_resume_values", "notify_dead_letter", "open_requests_for_interrupts",
    "pause_for_limit", "reopen_refused",
]


def decided_resume_values(run: Run, interrupt_ids: Sequence[str]) -> dict[str, Any]:
    """The decided interrupts' resume values, exact: the stored copies are redacted, the agent
    reads the comment and runs the arguments as the reviewer sent them (sealed beside them)."""
    decided = ApprovalRequest.objects.filter(
        run_id=run.id,
        interrupt_id__in=list(interrupt_ids),
        status__in=[
            ApprovalRequest.Status.APPROVED,
            ApprovalRequest.Status.REJECTED,
            ApprovalRequest.Status.RESPONDED,
        ],
    ).only("id", "interrupt_id", "status", "resume_value", "approved_args", "approved_args_hash", "sealed")
    approved_now.remember(
        {str(r.id): r.approved_args_hash for r in decided if r.status == ApprovalRequest.Status.APPROVED}
    )
    return {request.interrupt_id: request.exact_resume_value() for request in decided}


def breakpoint_answer(run: Run, interrupt_id: str) -> dict[str, Any] | None:
    """A static breakpoint's answer: approved → continue; rejected (or cancelled, escalated
    into nothing) → stop; pending or not opened → None."""
    request = (
        ApprovalRequest.objects.filter(run_id=run.id, interrupt_id=interrupt_id)
        .exclude(status=ApprovalRequest.Status.PENDING)
        .select_related("decided_by")
        .first()
    )
    if request is None:
        return None
    resume = request.exact_resume_value() or {}
    continues = request.status == ApprovalRequest.Status.APPROVED
    return {
        "decision": "continue" if continues else "stop",
        "comment": str(resume.get("comment") or "") if isinstance(resume, dict) else "",
        "decided_by": request.decided_by.get_username() if request.decided_by else (request.decided_automatically_by or "the system"),
        "approval_id": str(request.id),
    }


def reopen_refused(run: Run, errors: dict[str, str]) -> list[ApprovalRequest]:
    """The agent refused these interrupts' answers (interrupt id → its error): pending again."""
    return reopen_refused_requests(run, errors)
