"""The refund loop through the API and a real Celery worker: approve, reject, small amounts."""

from __future__ import annotations

from typing import Any

import pytest

from agents.demo.models import Refund
from agents.engine.models import IdempotencyRecord, Run
from approvals.models import ApprovalRequest, Decision
from tests.support.runs import order_id
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _start(client: Any, order_id: str, amount: float) -> str:
    response = client.post("/api/runs", {"agent": "refund", "input": {"order_id": order_id, "amount": amount, "reason": "arrived broken"}})
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "queued"
    return response.json()["id"]


def _status(client: Any, run_id: str) -> str:
    return client.get(f"/api/runs/{run_id}").json()["status"]


def _pending_request(client: Any, run_id: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        items = client.get("/api/approvals", status="pending").json()["items"]
        return next((a for a in items if a["run_id"] == run_id), None)

    return wait_for(find)


def test_refund_over_limit_waits_then_approval_refunds_once(celery_worker: Any, api: Any, engineer: Any, reviewer: Any) -> None:
    """Over 100: queued → waiting; the reviewer approves; the run resumes and succeeds; one refund row."""
    eng, rev = api(engineer), api(reviewer)
    order = order_id("A")
    run_id = _start(eng, order, 250)
    wait_for(lambda: _status(eng, run_id) == "waiting")
    assert not Refund.objects.filter(order_id=order).exists()

    request = _pending_request(rev, run_id)
    assert request["queue"] == "payments" and request["action"] == "issue_refund"
    assert request["proposed_args"] == {"order_id": order, "amount": 250.0}
    assert request["requested_by"] == "engineer"

    decided = rev.post(f"/api/approvals/{request['id']}/decision", {"decision": "approve", "comment": "ok"})
    assert decided.status_code == 200, decided.content
    assert decided.json()["status"] == "approved" and decided.json()["decided_by"] == "reviewer"

    wait_for(lambda: _status(eng, run_id) == "succeeded")
    run = eng.get(f"/api/runs/{run_id}").json()
    assert "refunded" in run["output"]["answer"]
    assert Refund.objects.filter(order_id=order).count() == 1
    assert IdempotencyRecord.objects.filter(key=f"refund:{order}").count() == 1

    steps = eng.get(f"/api/runs/{run_id}/steps").json()
    kinds = {(s["kind"], s["name"], s["status"]) for s in steps}
    assert ("gate", "issue_refund", "paused") in kinds and ("gate", "issue_refund", "ok") in kinds
    assert ("tool", "issue_refund", "ok") in kinds and ("tool", "lookup_order", "ok") in kinds
    assert all(set(s) >= {"id", "parent_id", "run_id", "kind", "name", "status", "started_at", "latency_ms", "input",
                          "output", "error", "tokens_in", "tokens_out", "cost", "model", "checkpoint_id", "step"} for s in steps)
    assert run["totals"]["steps"] == len([s for s in steps if s["kind"] == "node"])
    assert run["totals"]["tokens_in"] == sum(s["tokens_in"] for s in steps) > 0


def test_rejection_reaches_the_agent_and_nothing_is_refunded(celery_worker: Any, api: Any, engineer: Any, reviewer: Any) -> None:
    """A rejection's comment goes back to the agent as the tool result; the run succeeds without refunding."""
    eng, rev = api(engineer), api(reviewer)
    order = order_id("A")
    run_id = _start(eng, order, 900)
    request = _pending_request(rev, run_id)
    response = rev.post(
        f"/api/approvals/{request['id']}/decision",
        {"decision": "reject", "comment": "outside the return window", "reason_code": "policy"},
    )
    assert response.status_code == 200 and response.json()["status"] == "rejected"

    wait_for(lambda: _status(eng, run_id) == "succeeded")
    run = Run.objects.get(id=run_id)
    assert "outside the return window" in run.output["answer"]
    assert not Refund.objects.filter(order_id=order).exists()
    tool = [s for s in eng.get(f"/api/runs/{run_id}/steps").json() if s["kind"] == "tool" and s["name"] == "issue_refund" and s["status"] == "ok"]
    assert len(tool) == 1 and "rejected: policy: outside the return window" in str(tool[0]["output"])
    assert Decision.objects.get(request_id=request["id"]).reason_code == "policy"


def test_small_refund_needs_no_approval(celery_worker: Any, api: Any, engineer: Any) -> None:
    """100 or less: the condition does not hold, so the run never waits; the pass is recorded as
    an automatic approval naming the rule, and the refund is written once."""
    eng = api(engineer)
    order = order_id("A")
    run_id = _start(eng, order, 100)
    wait_for(lambda: _status(eng, run_id) == "succeeded")
    request = ApprovalRequest.objects.get(run_id=run_id)
    assert request.status == "approved" and request.decided_by is None
    assert request.decided_automatically_by == "condition 'amount > 100' does not hold"
    decision = Decision.objects.get(request=request)
    assert decision.user is None and decision.automatic_rule == request.decided_automatically_by
    assert Refund.objects.filter(order_id=order).count() == 1


def test_edited_arguments_are_the_ones_that_run(celery_worker: Any, api: Any, engineer: Any, reviewer: Any) -> None:
    """An edit approves the edited arguments: the tool runs with them, not with the proposal."""
    eng, rev = api(engineer), api(reviewer)
    order = order_id("A")
    run_id = _start(eng, order, 400)
    request = _pending_request(rev, run_id)
    response = rev.post(f"/api/approvals/{request['id']}/decision", {"decision": "edit", "args": {"order_id": order, "amount": 150}})
    assert response.status_code == 200, response.content
    assert response.json()["approved_args"] == {"order_id": order, "amount": 150}
    wait_for(lambda: _status(eng, run_id) == "succeeded")
    assert [str(r.amount) for r in Refund.objects.filter(order_id=order)] == ["150.00"]


def _refund_tool_spans(client: Any, run_id: str) -> list[dict[str, Any]]:
    return [s for s in client.get(f"/api/runs/{run_id}/steps").json() if s["kind"] == "tool" and s["name"] == "issue_refund"]


def test_a_second_refund_with_another_amount_is_refused_not_reported_done(celery_worker: Any, api: Any, engineer: Any) -> None:
    """A refund of 40, then one of 60 on the same order: the ledger's key matches but the arguments
    differ, so the second call fails as a tool error the agent reads; the run still succeeds, its
    answer says nothing was refunded, the tool span shows the error and only the 40 exists."""
    eng = api(engineer)
    order = order_id("A")
    first = _start(eng, order, 40)
    wait_for(lambda: _status(eng, first) == "succeeded")
    second = _start(eng, order, 60)
    wait_for(lambda: _status(eng, second) == "succeeded")

    answer = Run.objects.get(id=second).output["answer"]
    assert "has been refunded" not in answer and f"could not refund 60.0 on order {order}" in answer, answer
    assert "different arguments" in answer, answer
    assert [str(r.amount) for r in Refund.objects.filter(order_id=order)] == ["40.00"]
    [span] = _refund_tool_spans(eng, second)
    assert span["status"] == "error" and "different arguments" in span["error"], span


def test_approving_a_refund_on_an_already_refunded_order_refunds_nothing(
    celery_worker: Any, api: Any, engineer: Any, reviewer: Any
) -> None:
    """The reviewer approves 250 on an order already refunded 40: the approved action is not the
    stored one, so the agent is told it was not done and the 40 stays the only refund."""
    eng, rev = api(engineer), api(reviewer)
    order = order_id("A")
    first = _start(eng, order, 40)
    wait_for(lambda: _status(eng, first) == "succeeded")
    second = _start(eng, order, 250)
    request = _pending_request(rev, second)
    assert rev.post(f"/api/approvals/{request['id']}/decision", {"decision": "approve"}).status_code == 200
    wait_for(lambda: _status(eng, second) == "succeeded")

    answer = Run.objects.get(id=second).output["answer"]
    assert "has been refunded" not in answer and f"could not refund 250.0 on order {order}" in answer, answer
    assert [str(r.amount) for r in Refund.objects.filter(order_id=order)] == ["40.00"]
    assert [s["status"] for s in _refund_tool_spans(eng, second) if s["status"] != "paused"] == ["error"]


def test_the_answer_names_the_edited_amount_that_was_refunded(celery_worker: Any, api: Any, engineer: Any, reviewer: Any) -> None:
    """Proposed 250, edited to 120: the agent reports what the tool did (120), not what was asked."""
    eng, rev = api(engineer), api(reviewer)
    order = order_id("A")
    run_id = _start(eng, order, 250)
    request = _pending_request(rev, run_id)
    edited = rev.post(f"/api/approvals/{request['id']}/decision", {"decision": "edit", "args": {"order_id": order, "amount": 120}})
    assert edited.status_code == 200, edited.content
    wait_for(lambda: _status(eng, run_id) == "succeeded")

    answer = Run.objects.get(id=run_id).output["answer"]
    assert f"Done: 120.0 has been refunded on order {order}" in answer and "250" not in answer, answer
    assert [str(r.amount) for r in Refund.objects.filter(order_id=order)] == ["120.00"]
