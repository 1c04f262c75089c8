"""What approvals connects when Django starts (approvals/apps.py)."""

from __future__ import annotations

from agents.engine.hooks import register_approvals
from agents.engine.limits import LIMIT_ACTION
from approvals import engine_hooks
from approvals.limit_requests import on_limit_request_settled
from approvals.services import on_settled


def connect() -> None:
    # The run engine reaches approvals only through its hooks (agents/engine/hooks.py).
    register_approvals(engine_hooks)
    # A run paused over a limit: approved → the limit is raised; rejected → the run fails.
    on_settled(LIMIT_ACTION, on_limit_request_settled)
