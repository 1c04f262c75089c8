"""The recorder turns a known graph's events into the span tree docs/architecture.md describes ("Spans")."""

from __future__ import annotations

from typing import Any

import pytest

from agents.engine import runtime
from agents.engine.checkpointer import checkpointer
from agents.engine.models import Run
from agents.engine.registry import get_agent
from agents.engine.services import start_run
from traces.recording.models import Span

pytestmark = pytest.mark.django_db(transaction=True)


def _spans(run: Run) -> list[Span]:
    return list(Span.objects.filter(run=run).order_by("seq"))


def test_known_graph_span_tree(engineer: Any) -> None:
    """Nodes are top-level spans in step order; the model call nests in `plan`, the tool in `act`;
    routing functions are not spans; every span names the checkpoint saved with it."""
    run = start_run("known", {"topic": "tides"}, engineer)
    assert runtime.execute(run.id) == "succeeded"
    spans = _spans(run)
    shape = [(s.kind, s.name, s.status, s.step) for s in spans]
    assert shape == [
        ("node", "plan", "ok", 1),
        ("model", "scripted-demo", "ok", 1),
        ("node", "act", "ok", 2),
        ("tool", "measure", "ok", 2),
        ("node", "finish", "ok", 3),
    ]
    by_name = {s.name: s for s in spans}
    assert by_name["plan"].parent_id is None and by_name["act"].parent_id is None
    assert by_name["scripted-demo"].parent_id == by_name["plan"].id
    assert by_name["measure"].parent_id == by_name["act"].id
    model = by_name["scripted-demo"]
    assert model.model == "scripted-demo" and model.tokens_in > 0 and model.tokens_out > 0 and model.cost > 0
    assert by_name["measure"].input == {"topic": "tides"}
    assert "tides" in str(by_name["measure"].output)
    assert all(s.latency_ms >= 0 and s.started_at for s in spans)

    with checkpointer() as saver:
        saved = {c.config["configurable"]["checkpoint_id"] for c in saver.list({"configurable": {"thread_id": run.thread_id}})}
    assert {s.checkpoint_id for s in spans} <= saved

    run.refresh_from_db()
    assert run.steps == 3 and run.tokens_in == model.tokens_in and run.cost == pytest.approx(model.cost)
    assert run.output == {"result": '{"topic": "tides", "size": 5}', "log": ["plan", "act", "finish"]}


def test_failing_tool_records_error_and_traceback(engineer: Any) -> None:
    """An exception in a node fails the run with the error and traceback, on the run and its spans."""
    run = start_run("known", {"topic": "explode"}, engineer)
    assert runtime.execute(run.id) == "failed"
    run.refresh_from_db()
    assert run.error == "ValueError: cannot measure explode"
    assert "Traceback" in run.error_traceback and "cannot measure explode" in run.error_traceback
    failed = {s.name: s for s in _spans(run) if s.status == "error"}
    assert set(failed) == {"act", "measure"}
    assert "ValueError: cannot measure explode" in failed["measure"].error
    assert "Traceback" in failed["act"].error


def test_demo_failing_agent_fails_and_worker_carries_on(engineer: Any) -> None:
    """The stock_check demo fails on a BROKEN sku; the next run in the same process succeeds."""
    broken = start_run("stock_check", {"sku": "BROKEN-42"}, engineer)
    fine = start_run("stock_check", {"sku": "SKU-7"}, engineer)
    assert runtime.execute(broken.id) == "failed"
    assert runtime.execute(fine.id) == "succeeded"
    broken.refresh_from_db()
    assert "503" in broken.error and "InventoryServiceError" in broken.error


def test_gate_pause_is_recorded_as_paused_not_error(engineer: Any) -> None:
    """The interrupt reaches the recorder as an error event; it is recorded as `paused`, with a gate span."""
    run = start_run("refund", {"order_id": "REC-1", "amount": 500, "reason": "late"}, engineer)
    assert runtime.execute(run.id) == "waiting"
    paused = [(s.kind, s.name) for s in _spans(run) if s.status == "paused"]
    assert paused == [("node", "refund"), ("tool", "issue_refund"), ("gate", "issue_refund")]
    assert not Span.objects.filter(run=run, status="error").exists()
    gate = Span.objects.get(run=run, kind="gate")
    assert gate.input["queue"] == "payments" and gate.input["args"] == {"order_id": "REC-1", "amount": 500.0}


def test_fingerprint_is_recorded(engineer: Any) -> None:
    """Each run records its graph's fingerprint (nodes and edges)."""
    run = start_run("known", {"topic": "x"}, engineer)
    spec = get_agent("known")
    assert spec is not None and run.graph_fingerprint == spec.fingerprint() and len(run.graph_fingerprint) == 64


def test_totals_match_the_spans_across_a_resume(engineer: Any, reviewer: Any) -> None:
    """The run's totals (kept without re-reading spans) equal the sums over its recorded spans,
    across the pause at the gate and the resume."""
    from approvals.models import ApprovalRequest
    from approvals.services import decide

    run = start_run("refund", {"order_id": "TOT-1", "amount": 500, "reason": "late"}, engineer)
    assert runtime.execute(run.id) == "waiting"
    decide(ApprovalRequest.objects.get(run=run).id, reviewer, "approve")
    assert runtime.execute(run.id) == "succeeded"
    run.refresh_from_db()
    stored = {k: getattr(run, k) for k in ("steps", "tokens_in", "tokens_out", "cost", "latency_ms")}
    recount = runtime.totals_of(run.id)
    assert stored["steps"] == recount["steps"] == 6
    assert stored["tokens_in"] == recount["tokens_in"] and stored["tokens_out"] == recount["tokens_out"]
    assert stored["cost"] == pytest.approx(recount["cost"]) and stored["latency_ms"] == pytest.approx(recount["latency_ms"])
