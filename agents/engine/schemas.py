"""A run as API clients see it (`GET /api/runs/{id}` and every endpoint that returns a run)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ninja import Field, Schema

from agents.engine.models import Run

__all__ = ["RunOut", "TotalsOut", "run_out"]


class TotalsOut(Schema):
    """What the run has used; the meanings are the Run model's (README, "A run's counts")."""

    steps: int = Field(description="node executions (node spans); a node that runs again counts again; what max_steps limits")
    spans: int = Field(description="recorded spans of every kind: what GET /api/runs/{id}/steps returns")
    tokens_in: int
    tokens_out: int
    cost: float
    latency_ms: float = Field(description="milliseconds spent inside the graph's nodes (sum of node-span latencies)")
    active_ms: float = Field(
        description="milliseconds workers spent on the run, over all its executions; "
        "waits in the queue or for approval do not count"
    )
    wall_ms: float | None = Field(
        description="milliseconds from the first claim (started_at) to finished_at, waits included; null until finished"
    )


class RunOut(Schema):
    id: uuid.UUID
    agent: str
    status: str
    thread_id: str
    input: Any
    output: Any
    error: str
    error_traceback: str
    metadata: dict[str, Any]
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int
    graph_fingerprint: str
    parent_run_id: uuid.UUID | None
    totals: TotalsOut
    pending_approvals: list[uuid.UUID]
    limits: dict[str, Any]
    limit_breaches: list[dict[str, Any]]
    active_seconds: float



def run_out(run: Run, pending: list[uuid.UUID] | None = None) -> dict[str, Any]:
    return {
        "id": run.id,
        "agent": run.agent.key,
        "status": run.status,
        "thread_id": run.thread_id,
        "input": run.input,
        "output": run.output,
        "error": run.error,
        "error_traceback": run.error_traceback,
        "metadata": run.metadata,
        "created_by": run.created_by.get_username() if run.created_by else None,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "attempts": run.attempts,
        "graph_fingerprint": run.graph_fingerprint,
        "parent_run_id": run.parent_run_id,
        "totals": run.totals,
        "pending_approvals": pending or [],
        "limits": run.limits,
        "limit_breaches": run.limit_breaches,
        "active_seconds": run.active_seconds,
    }
