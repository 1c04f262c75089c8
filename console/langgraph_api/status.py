"""Run and thread statuses, Steward's ↔ the LangGraph API's (docs/langgraph-api.md)."""

from __future__ import annotations

from agents.engine.models import Run

__all__ = ["RUN_STATUSES", "THREAD_STATUSES", "run_status", "steward_statuses", "thread_status"]

RUN_STATUSES = ("pending", "running", "success", "error", "timeout", "interrupted")
THREAD_STATUSES = ("idle", "busy", "interrupted", "error")

_TO_SDK = {
    Run.Status.QUEUED: "pending",
    Run.Status.RUNNING: "running",
    Run.Status.WAITING: "interrupted",
    Run.Status.SUCCEEDED: "success",
    Run.Status.FAILED: "error",
    # LangGraph Platform reports a cancelled run as interrupted.
    Run.Status.CANCELLED: "interrupted",
}
_FROM_SDK: dict[str, tuple[str, ...]] = {
    "pending": (Run.Status.QUEUED,),
    "running": (Run.Status.RUNNING,),
    "success": (Run.Status.SUCCEEDED,),
    "error": (Run.Status.FAILED,),
    "timeout": (Run.Status.FAILED,),
    "interrupted": (Run.Status.WAITING, Run.Status.CANCELLED),
}


def _timed_out(run: Run) -> bool:
    return any((b or {}).get("limit") in ("timeout_seconds", "node_timeout_seconds") for b in run.limit_breaches or [])


def run_status(run: Run) -> str:
    """The SDK's status of a Steward run; a run failed on its time limit is `timeout`."""
    if run.status == Run.Status.FAILED and _timed_out(run):
        return "timeout"
    return _TO_SDK[Run.Status(run.status)]


def steward_statuses(sdk_status: str) -> tuple[str, ...]:
    """The Steward statuses an SDK status filter means (`timeout` is a kind of failed)."""
    return _FROM_SDK[sdk_status]


def thread_status(latest_run_status: str | None) -> str:
    """A thread's status from its newest visible run's: busy while it is queued or running."""
    if latest_run_status in (Run.Status.QUEUED, Run.Status.RUNNING):
        return "busy"
    if latest_run_status == Run.Status.WAITING:
        return "interrupted"
    if latest_run_status == Run.Status.FAILED:
        return "error"
    return "idle"
