"""Getting a real pending approval request: a refund run executed to its gate."""

from __future__ import annotations

import uuid
from typing import Any

from agents.engine import runtime
from agents.engine.models import Run
from agents.engine.services import start_run
from approvals.models import ApprovalRequest


def waiting_refund(requester: Any, amount: float = 250) -> tuple[Run, ApprovalRequest]:
    run = start_run("refund", {"order_id": f"P-{uuid.uuid4().hex[:8]}", "amount": amount, "reason": "x"}, requester)
    assert runtime.execute(run.id) == "waiting"
    return run, ApprovalRequest.objects.get(run=run, status="pending")
