"""Replay, retry and diff, on real runs with the real checkpointer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agents.demo.models import Refund
from agents.engine import llm, runtime
from agents.engine.models import Run
from agents.engine.services import start_run
from approvals.models import ApprovalRequest
from approvals.services import decide
from tests.support.runs import executed_run
from traces.inspection.diff import diff_runs
from traces.inspection.replay import replay, retry
from traces.recording.models import Span

pytestmark = pytest.mark.django_db(transaction=True)


def _count_model_calls(monkeypatch: Any) -> list[int]:
    """Counts real (scripted) model calls: the provider is the one thing tests may fake."""
    calls = [0]
    original = llm.ScriptedChatModel._generate

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(llm.ScriptedChatModel, "_generate", counting)
    return calls


def test_recorded_replay_of_a_failed_run_reproduces_the_failure_with_zero_model_calls(engineer: Any, monkeypatch: Any) -> None:
    """From the start, recorded: the same failure, no model called, the original untouched."""
    original = executed_run("stock_check", {"sku": "BROKEN-7"}, engineer)
    assert original.status == "failed"
    spans_before = list(Span.objects.filter(run=original).values_list("id", flat=True))
    calls = _count_model_calls(monkeypatch)
    copy = replay(original, engineer, mode="recorded")
    assert runtime.execute(copy.id) == "failed"
    copy.refresh_from_db()
    assert calls[0] == 0
    assert copy.error.split(":")[-1].strip() == original.error.split(":")[-1].strip()
    assert copy.parent_run_id == original.id and copy.thread_id != original.thread_id
    assert list(Span.objects.filter(run=original).values_list("id", flat=True)) == spans_before
    assert diff_runs(original, copy)["first_divergence"] is None, "the same steps, outputs and failure"


def test_recorded_replay_from_a_step_runs_only_what_follows(engineer: Any, monkeypatch: Any) -> None:
    """From step 3 of order_summary: steps 1–2 are inherited, the rest plays back identically."""
    original = executed_run("order_summary", {"customer_id": "C-5"}, engineer)
    calls = _count_model_calls(monkeypatch)
    copy = replay(original, engineer, from_step=3, mode="recorded")
    assert runtime.execute(copy.id) == "succeeded"
    copy.refresh_from_db()
    assert calls[0] == 0 and copy.output == original.output
    assert min(Span.objects.filter(run=copy).values_list("step", flat=True)) == 3
    diff = diff_runs(original, copy)
    assert diff["first_divergence"] is None, diff["rows"]
    assert any(row["inherited"] for row in diff["rows"])


def test_fork_with_edited_state_takes_a_different_path(engineer: Any) -> None:
    """Live from step 2 with the plan edited: the tool measures the new topic; the diff finds it."""
    original = executed_run("known", {"topic": "tides"}, engineer)
    plan = [{"name": "measure", "args": {"topic": "the deep ocean"}, "id": "call_measure", "type": "tool_call"}]
    copy = replay(original, engineer, from_step=2, mode="live", state_patch={"plan": json.dumps(plan)})
    assert runtime.execute(copy.id) == "succeeded"
    copy.refresh_from_db()
    assert "the deep ocean" in copy.output["result"] and "tides" in original.output["result"]
    diff = diff_runs(original, copy)
    first = diff["rows"][diff["first_divergence"]]
    assert (first["step"], first["kind"]) == (2, "node") or first["kind"] == "tool"
    assert copy.metadata["replay"]["state_patch"] == {"plan": json.dumps(plan)}


def test_live_replay_of_an_approved_refund_does_not_refund_twice(engineer: Any, reviewer: Any) -> None:
    """The ledger's business key (refund:<order>) holds across the replay chain."""
    original = start_run("refund", {"order_id": "R-ONCE", "amount": 300, "reason": "x"}, engineer)
    runtime.execute(original.id)
    decide(ApprovalRequest.objects.get(run=original, status="pending").id, reviewer, "approve")
    assert runtime.execute(original.id) == "succeeded"
    original.refresh_from_db()
    copy = replay(original, engineer, mode="live")
    assert runtime.execute(copy.id) == "waiting"  # live: the gate asks again
    decide(ApprovalRequest.objects.get(run=copy, status="pending").id, reviewer, "approve")
    assert runtime.execute(copy.id) == "succeeded"
    assert Refund.objects.filter(order_id="R-ONCE").count() == 1


def test_recorded_replay_of_a_refused_refund_replays_the_refusal(engineer: Any) -> None:
    """A second refund of another amount was refused by the ledger and the agent said so: its
    recorded replay plays the refusal back to the agent and ends the same way, refunding nothing."""
    executed_run("refund", {"order_id": "R-TWICE", "amount": 40, "reason": "x"}, engineer)
    refused = executed_run("refund", {"order_id": "R-TWICE", "amount": 60, "reason": "x"}, engineer)
    assert refused.status == "succeeded" and "could not refund 60.0" in refused.output["answer"]
    copy = replay(refused, engineer, mode="recorded")
    assert runtime.execute(copy.id) == "succeeded"
    copy.refresh_from_db()
    assert copy.output == refused.output
    assert [str(r.amount) for r in Refund.objects.filter(order_id="R-TWICE")] == ["40.00"]
    [span] = Span.objects.filter(run=copy, kind="tool", name="issue_refund")
    assert span.status == "error" and "different arguments" in span.error


def test_retry_in_place_finishes_a_run_that_failed_on_a_transient_error(engineer: Any) -> None:
    """The failed node runs again from the last checkpoint and the run succeeds, same run id."""
    run = executed_run("flaky", {"topic": "weather"}, engineer)
    assert run.status == "failed" and "transient" in run.error
    retried = retry(run, engineer)
    assert retried.status == "queued" and retried.error == ""
    assert runtime.execute(run.id) == "succeeded"
    run.refresh_from_db()
    assert '"value": 42' in run.output["result"]
    assert list(Span.objects.filter(run=run, kind="node", status="ok").values_list("name", flat=True)) == ["plan", "fetch", "finish"]


def test_bad_replays_explain_what_does_not_match(engineer: Any, api: Any) -> None:
    """A missing step, a bad mode, unknown state keys: 422 naming the field; nothing is written."""
    original = executed_run("known", {"topic": "tides"}, engineer)
    client = api(engineer)
    runs_before = Run.objects.count()
    for body, field in (
        ({"from_step": 42}, "from_step"),
        ({"mode": "sideways"}, "mode"),
        ({"mode": "mixed"}, "live_from_step"),
        ({"from_step": 2, "state_patch": {"nonsense": 1}}, "nonsense"),
    ):
        response = client.post(f"/api/runs/{original.id}/replay", body)
        assert response.status_code == 422, response.content
        assert field in json.dumps(response.json()["detail"])
    assert Run.objects.count() == runs_before
    assert client.post(f"/api/runs/{original.id}/retry").status_code == 409  # it did not fail
    ok = client.post(f"/api/runs/{original.id}/replay", {"from_step": 2, "mode": "recorded"})
    assert ok.status_code == 201 and ok.json()["parent_run_id"] == str(original.id)
    diff = client.get(f"/api/runs/{original.id}/diff/{ok.json()['id']}")
    assert diff.status_code == 200 and "first_divergence" in diff.json()
