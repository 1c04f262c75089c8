"""The approved requests a worker has just read for the run it resumes, so that the gate need not
read each again while the resumed node runs.

The worker reads the decided requests to build the resume (engine_hooks.py `decided_resume_values`);
the gate (gate.py) then checks that the resume value it is given was approved, with the arguments
approved. An approval is final (a request's outcome is set once), so the status read a few
milliseconds earlier in the same execution is the status now. Kept in a context variable: LangGraph
runs the node in a copy of the worker's context, and another run's execution sets its own."""

from __future__ import annotations

from contextvars import ContextVar

__all__ = ["approved_args_hash", "remember"]

_approved: ContextVar[dict[str, str] | None] = ContextVar("steward_approved_now", default=None)


def remember(approved: dict[str, str]) -> None:
    """Approval id → approved arguments' hash, of the requests this execution resumes with."""
    _approved.set(approved)


def approved_args_hash(approval_id: str) -> str | None:
    """The approved arguments' hash if this execution read the request as approved, else None."""
    return (_approved.get() or {}).get(approval_id)
