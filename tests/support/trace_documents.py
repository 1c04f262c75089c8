"""Trace export documents written by hand, for the import's tests."""

from __future__ import annotations

import uuid
from typing import Any


def valid_document(status: str = "succeeded") -> dict[str, Any]:
    """A small, well-formed export written by hand: two spans, the second nested in the first."""
    node, model = str(uuid.uuid4()), str(uuid.uuid4())
    return {
        "format": "steward.trace.v1",
        "exported_at": "2026-01-02T03:04:05+00:00",
        "source": "https://steward.example.com",
        "run": {
            "id": str(uuid.uuid4()),
            "agent": "refund",
            "agent_name": "Refund",
            "thread_id": "t-1",
            "status": status,
            "input": {"order_id": "A-1", "amount": 5, "reason": "x"},
            "output": {"answer": "done"},
            "metadata": {"tag": "demo"},
            "created_by": "alice",
            "created_at": "2026-01-02T03:00:00+00:00",
            "started_at": "2026-01-02T03:00:01+00:00",
            "finished_at": "2026-01-02T03:00:02+00:00",
            "attempts": 1,
            "totals": {"steps": 1, "spans": 2, "tokens_in": 10, "tokens_out": 5, "cost": 0.001, "latency_ms": 12.5,
                       "active_ms": 800.0, "wall_ms": 1000.0},
        },
        "spans": [
            {"id": node, "parent_id": None, "seq": 0, "kind": "node", "name": "plan", "status": "ok",
             "started_at": "2026-01-02T03:00:01+00:00", "input": {"a": 1}, "output": {"b": 2}, "step": 1},
            {"id": model, "parent_id": node, "seq": 1, "kind": "model", "name": "scripted", "status": "ok",
             "started_at": "2026-01-02T03:00:01.500000+00:00", "tokens_in": 10, "tokens_out": 5, "cost": 0.001,
             "model": "scripted", "step": 1},
        ],
        "approvals": [],
    }
