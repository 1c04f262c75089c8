"""Real runs of the demo agents, executed in-process to the state a test needs."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import User

from agents.engine import runtime
from agents.engine.models import Run
from agents.engine.services import start_run
from approvals.models import ApprovalRequest
from approvals.services import decide
from traces.recording.models import Span


def order_id(prefix: str = "T") -> str:
    """A fresh order id: refunds are unique per order."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def queued_refund(user: User, amount: float = 50, reason: str = "late") -> Run:
    """A refund run started by `user` on a fresh order, queued (nothing executes it here)."""
    return start_run("refund", {"order_id": order_id("R"), "amount": amount, "reason": reason}, user)


def waiting_refund(requester: User, amount: float = 250) -> tuple[Run, ApprovalRequest]:
    """A refund over 100 executed to its gate: the run waits on a pending request in `payments`."""
    run = queued_refund(requester, amount)
    assert runtime.execute(run.id) == Run.Status.WAITING
    run.refresh_from_db()
    return run, ApprovalRequest.objects.get(run=run, status=ApprovalRequest.Status.PENDING)


def approved_refund(
    engineer: User, reviewer: User, *, order: str | None = None, amount: float = 250, comment: str = ""
) -> Run:
    """A refund over the limit: it waits, `reviewer` approves it, and it runs to success."""
    data = {"order_id": order or order_id("X"), "amount": amount, "reason": "late"}
    run = start_run("refund", data, engineer)
    assert runtime.execute(run.id) == Run.Status.WAITING
    request = ApprovalRequest.objects.get(run=run, status=ApprovalRequest.Status.PENDING)
    decide(request.id, reviewer, "approve", comment=comment)
    assert runtime.execute(run.id) == Run.Status.SUCCEEDED
    return Run.objects.select_related("agent").get(id=run.id)


def executed_run(agent: str, data: dict[str, Any], user: User) -> Run:
    """A run of `agent` executed in-process until it stops, whatever its outcome."""
    run = start_run(agent, data, user)
    runtime.execute(run.id)
    run.refresh_from_db()
    return run


def node_names(run: Run | uuid.UUID | str) -> list[str]:
    """The names of the run's node spans, in order (`run` is a run or its id)."""
    return list(Span.objects.filter(run=run, kind="node").order_by("seq").values_list("name", flat=True))


def waiting_question(requester: User) -> ApprovalRequest:
    """The `question` agent (`interrupt("What is the order id?", response_schema=...)`) executed
    to its question: a free-form request in `default`, which by default its requester may answer."""
    run = start_run("question", {"topic": "order"}, requester)
    assert runtime.execute(run.id) == Run.Status.WAITING
    return ApprovalRequest.objects.select_related("queue", "requested_by").get(run=run, status=ApprovalRequest.Status.PENDING)
