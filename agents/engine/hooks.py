"""What the run engine asks of the approvals layer above it, without importing it.

Arrows between layers only point down (docs/architecture.md): the engine never names approvals.
Instead approvals registers one implementation of `ApprovalsHooks` when Django starts
(approvals/apps.py), and the engine calls it through `approvals()`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from langgraph.types import Interrupt

    from agents.engine.limits import Breach, Limits
    from agents.engine.models import DeadLetter, Run

__all__ = ["ApprovalsHooks", "approvals", "register_approvals"]


class ApprovalsHooks(Protocol):
    """Each call runs inside the engine's transaction, so what it writes commits with the run."""

    def open_requests_for_interrupts(self, run: Run, interrupts: Sequence[Interrupt]) -> Any:
        """One approval request per pending interrupt of a run just set `waiting`."""

    def pause_for_limit(self, run: Run, breach: Breach, limits: Limits) -> Any:
        """The "continue over the limit?" request for a run just set `waiting`."""

    def decided_resume_values(self, run: Run, interrupt_ids: Sequence[str]) -> dict[str, Any]:
        """interrupt id → resume value, for the interrupts among `interrupt_ids` already decided."""

    def reopen_refused(self, run: Run, errors: dict[str, str]) -> Any:
        """The agent refused the answers to these interrupts (interrupt id → the agent's error):
        their requests go back to pending with the error, for a new answer."""

    def breakpoint_answer(self, run: Run, interrupt_id: str) -> dict[str, Any] | None:
        """How a reviewer answered the run's static breakpoint request `interrupt_id`:
        {"decision": "continue" | "stop", "comment", "decided_by", "approval_id"}; None while
        nobody has (or no request is open yet)."""

    def cancel_requests_of_run(self, run_id: uuid.UUID, actor: Any, reason: str) -> int:
        """Cancel the run's pending requests (the run was cancelled or gave up); how many."""

    def notify_dead_letter(self, letter: DeadLetter, run: Run) -> None:
        """Tell people that a failed run landed in the dead-letter list."""


_approvals: ApprovalsHooks | None = None


def register_approvals(hooks: ApprovalsHooks) -> None:
    global _approvals
    _approvals = hooks


def approvals() -> ApprovalsHooks:
    if _approvals is None:
        raise ImproperlyConfigured("no approvals hooks: the approvals app registers them in its ready()")
    return _approvals
