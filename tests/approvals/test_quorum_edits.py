"""With a quorum, the last edit wins: the votes and edits so far are read with the locked
request (issue 18), so whichever reviewer reaches the quorum, the run gets the latest edit."""

from __future__ import annotations

from typing import Any

import pytest

from agents.demo.models import Refund
from agents.engine import runtime
from approvals.models import Queue
from approvals.services import decide
from tests.support.runs import waiting_refund
from tests.support.users import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def _refunded(order_id: str) -> list[str]:
    return [str(r.amount) for r in Refund.objects.filter(order_id=order_id)]


@pytest.mark.parametrize("edit_first", [True, False])
def test_the_quorum_runs_the_last_edit(engineer: Any, reviewer: Any, edit_first: bool) -> None:
    """One reviewer edits, another approves (in either order): the tool runs with the edit and
    the request counts both approvals."""
    Queue.objects.filter(name="payments").update(required_approvals=2)
    second = make_user("second", "reviewers")
    run, request = waiting_refund(engineer, amount=400)
    edited = {"order_id": request.proposed_args["order_id"], "amount": 130.0}
    first_vote: dict[str, Any] = {"decision": "edit", "args": edited} if edit_first else {"decision": "approve"}
    second_vote: dict[str, Any] = {"decision": "approve"} if edit_first else {"decision": "edit", "args": edited}
    assert decide(request.id, reviewer, **first_vote).status == "pending"
    settled = decide(request.id, second, **second_vote)
    settled.refresh_from_db()
    assert settled.status == "approved" and settled.approvals == 2
    assert settled.exact_approved_args() == edited
    assert runtime.execute(run.id) == "succeeded"
    assert _refunded(edited["order_id"]) == ["130.00"]


def test_two_edits_the_later_one_wins(engineer: Any, reviewer: Any) -> None:
    Queue.objects.filter(name="payments").update(required_approvals=2)
    second = make_user("second", "reviewers")
    run, request = waiting_refund(engineer, amount=400)
    order = request.proposed_args["order_id"]
    decide(request.id, reviewer, "edit", args={"order_id": order, "amount": 150.0})
    decide(request.id, second, "edit", args={"order_id": order, "amount": 140.0})
    assert runtime.execute(run.id) == "succeeded"
    assert _refunded(order) == ["140.00"]
