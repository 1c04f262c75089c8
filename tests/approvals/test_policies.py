"""Approval policies on the server: four-eyes, quorum, separation of duties, edits, responses,
reason codes, reassignment and bulk decisions."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group

from agents.demo.models import Refund
from agents.engine import runtime
from agents.engine.models import Run
from approvals.models import ApprovalRequest, Decision, Queue
from approvals.services import bulk_decide, decide, reassign
from console.kernel.errors import Conflict, Forbidden, Invalid
from console.kernel.models import AuditEvent
from tests.support.runs import waiting_refund
from tests.support.users import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_four_eyes_the_requester_never_decides(roles: None) -> None:
    """Whoever started the run cannot decide its action, even as an admin and reviewer."""
    admin = make_user("boss", "admins", "reviewers", "engineers", is_superuser=True)
    _, request = waiting_refund(admin)
    for decision in ("approve", "reject", "respond"):
        with pytest.raises(Forbidden, match="four-eyes"):
            decide(request.id, admin, decision, comment="x")
    request.refresh_from_db()
    assert request.status == "pending" and not request.decisions.exists()


def test_quorum_needs_distinct_reviewers_and_any_rejection_ends_it(engineer: Any, reviewer: Any) -> None:
    """With two approvals required, one approval leaves the request pending, the same reviewer
    cannot vote twice, a second reviewer settles it; in another request one rejection ends it."""
    Queue.objects.filter(name="payments").update(required_approvals=2)
    second = make_user("second", "reviewers")
    run, request = waiting_refund(engineer)
    assert decide(request.id, reviewer, "approve").status == "pending"
    request.refresh_from_db()
    assert request.approvals == 1 and Run.objects.get(id=run.id).status == "waiting"
    with pytest.raises(Conflict, match="already voted"):
        decide(request.id, reviewer, "approve")
    settled = decide(request.id, second, "approve")
    assert settled.status == "approved" and settled.approvals == 2
    assert Run.objects.get(id=run.id).status == "queued"
    assert runtime.execute(run.id) == "succeeded"
    assert Refund.objects.filter(order_id=request.proposed_args["order_id"]).count() == 1

    run2, request2 = waiting_refund(engineer)
    decide(request2.id, reviewer, "approve")
    assert decide(request2.id, second, "reject", comment="no", reason_code="policy").status == "rejected"
    assert runtime.execute(run2.id) == "succeeded"
    assert not Refund.objects.filter(order_id=request2.proposed_args["order_id"]).exists()


def test_separation_of_duties_by_group(engineer: Any, reviewer: Any) -> None:
    """A reviewer in one of the queue's excluded groups may not decide there."""
    finance = Group.objects.create(name="finance-team")
    Queue.objects.get(name="payments").excluded_groups.add(finance)
    reviewer.groups.add(finance)
    _, request = waiting_refund(engineer)
    with pytest.raises(Forbidden, match="separation of duties"):
        decide(request.id, reviewer, "approve")
    other = make_user("other", "reviewers")
    assert decide(request.id, other, "approve").status == "approved"


def test_edit_keeps_proposal_approval_and_diff_and_runs_the_edit(engineer: Any, reviewer: Any) -> None:
    """An edit is validated against the gate's schema, stored with the diff, and the tool runs with it."""
    run, request = waiting_refund(engineer, amount=400)
    with pytest.raises(Invalid) as invalid:
        decide(request.id, reviewer, "edit", args={"order_id": request.proposed_args["order_id"], "amount": -3})
    assert invalid.value.detail[0]["loc"] == ["body", "args", "amount"]
    edited = {"order_id": request.proposed_args["order_id"], "amount": 120.0}
    decide(request.id, reviewer, "edit", args=edited)
    decision = Decision.objects.get(request=request)
    assert decision.proposed_args == request.proposed_args and decision.approved_args == edited
    assert decision.args_diff == [{"field": "amount", "from": 400.0, "to": 120.0}]
    assert runtime.execute(run.id) == "succeeded"
    assert [str(r.amount) for r in Refund.objects.filter(order_id=edited["order_id"])] == ["120.00"]


def test_an_edit_with_an_undeclared_argument_is_refused_naming_it(engineer: Any, reviewer: Any, api: Any) -> None:
    """`admin: true` is not an argument issue_refund declares: the API answers 422 naming the
    field, and nothing is decided (the service refuses it the same way)."""
    _, request = waiting_refund(engineer)
    edited = {**request.proposed_args, "admin": True}
    response = api(reviewer).post(f"/api/approvals/{request.id}/decision", {"decision": "edit", "args": edited})
    assert response.status_code == 422, response.content
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "args", "admin"] and "'admin' is not an argument of issue_refund" in error["msg"]
    with pytest.raises(Invalid, match="admin"):
        decide(request.id, reviewer, "edit", args=edited)
    request.refresh_from_db()
    assert request.status == "pending" and not request.decisions.exists()


def test_respond_sends_a_message_back_to_the_agent(engineer: Any, reviewer: Any) -> None:
    """A response is not a decision on the action: the agent receives the message, nothing is refunded."""
    run, request = waiting_refund(engineer)
    with pytest.raises(Invalid, match="message"):
        decide(request.id, reviewer, "respond")
    assert decide(request.id, reviewer, "respond", comment="Please attach a photo of the damage").status == "responded"
    assert runtime.execute(run.id) == "succeeded"
    run.refresh_from_db()
    assert "Please attach a photo of the damage" in run.output["answer"]
    assert not Refund.objects.filter(order_id=request.proposed_args["order_id"]).exists()


def test_reason_code_must_come_from_the_queue(engineer: Any, reviewer: Any) -> None:
    """A rejection's reason code is one of the queue's; any other is 422 and nothing is decided."""
    _, request = waiting_refund(engineer)
    with pytest.raises(Invalid, match="reason code"):
        decide(request.id, reviewer, "reject", reason_code="because")
    assert decide(request.id, reviewer, "reject", reason_code="suspicious").status == "rejected"


def test_reassign_moves_the_request_with_a_reason(engineer: Any, reviewer: Any, outsider: Any) -> None:
    """A reviewer moves a request to another queue with a reason; it is audited; bad targets are 422."""
    _, request = waiting_refund(engineer)
    with pytest.raises(Invalid):
        reassign(request.id, reviewer, "nowhere", "wrong team")
    with pytest.raises(Invalid):
        reassign(request.id, reviewer, "default", "")
    with pytest.raises(Forbidden):
        reassign(request.id, outsider, "default", "x")
    moved = reassign(request.id, reviewer, "default", "not a payment")
    assert moved.queue.name == "default"
    event = AuditEvent.objects.filter(action="approval.reassigned").get()
    assert event.data == {"source": "payments", "target": "default", "reason": "not a payment"}


def test_bulk_decision_reports_each_outcome(roles: None) -> None:
    """Several requests, one reason: each is checked against its own policy; the answer says which
    succeeded and why the others did not."""
    engineer = make_user("eng", "engineers")
    both = make_user("both", "engineers", "reviewers")
    _, mine = waiting_refund(both)  # four-eyes: `both` may not decide it
    _, fine = waiting_refund(engineer)
    _, done = waiting_refund(engineer)
    decide(done.id, make_user("early", "reviewers"), "approve")
    results = bulk_decide([fine.id, mine.id, done.id], both, "reject", comment="batch", reason_code="duplicate")
    by_id = {r["id"]: r for r in results}
    assert by_id[str(fine.id)]["ok"] and by_id[str(fine.id)]["status"] == "rejected"
    assert by_id[str(mine.id)] == {"id": str(mine.id), "ok": False, "status": 403, "detail": by_id[str(mine.id)]["detail"]}
    assert "four-eyes" in by_id[str(mine.id)]["detail"]
    assert by_id[str(done.id)]["status"] == 409 and "already approved" in by_id[str(done.id)]["detail"]
    assert ApprovalRequest.objects.get(id=mine.id).status == "pending"


def test_bulk_decision_api(api: Any, engineer: Any, reviewer: Any) -> None:
    """POST /api/approvals/bulk-decision answers 200 with one result per id."""
    _, first = waiting_refund(engineer)
    _, second = waiting_refund(engineer)
    response = api(reviewer).post(
        "/api/approvals/bulk-decision", {"ids": [str(first.id), str(second.id)], "decision": "approve"}
    )
    assert response.status_code == 200, response.content
    assert [r["ok"] for r in response.json()["results"]] == [True, True]
