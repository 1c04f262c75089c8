"""Whether the run's requester may answer its own requests: the queue's `requester_may_answer`.

By default (`default`) a question put to whoever started the run (a free-form `interrupt()`, or a
request that takes only a response) is theirs to answer, while approving or editing an action (a
Steward gate, the middleware's approve/edit) keeps four-eyes. `always` and `never` force it.

The requester here is an engineer: the role that starts runs, no reviewer group. The agents are
written the LangGraph docs' way (tests/support/interrupt_agents.py, the refund agent of
tests/support/graphs.py); each run is executed in-process (`runtime.execute`), paused, decided
through `POST /api/approvals/{id}/decision` (or the request's page), and executed again.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.contrib.auth.models import Group, User

from agents.engine import runtime
from agents.engine.interrupts import describe
from agents.engine.models import Run
from agents.engine.services import start_run
from approvals.models import ApprovalRequest, Decision, Queue
from tests.support.clients import ApiClient, logged_in
from tests.support.users import make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]


def _paused(agent: str, data: dict[str, Any], user: User) -> ApprovalRequest:
    run = start_run(agent, data, user)
    assert runtime.execute(run.id) == Run.Status.WAITING
    return ApprovalRequest.objects.select_related("queue").get(run=run)


def _question(user: User) -> ApprovalRequest:
    """A free-form question (`interrupt("What is the order id?", response_schema=...)`)."""
    return _paused("question", {"topic": "order"}, user)


def _refund(user: User) -> ApprovalRequest:
    """A refund over the threshold: a Steward gate in `payments`."""
    return _paused("refund", {"order_id": f"M-{uuid.uuid4().hex[:10]}", "amount": 250, "reason": "x"}, user)


def _set(queue: Queue, setting: str) -> None:
    queue.requester_may_answer = setting
    queue.save(update_fields=["requester_may_answer"])


def _unchanged(request: ApprovalRequest) -> None:
    request.refresh_from_db()
    assert request.status == "pending" and not Decision.objects.filter(request=request).exists()
    assert Run.objects.get(id=request.run_id).status == Run.Status.WAITING


def _resumed(request: ApprovalRequest) -> Run:
    """The run, executed again after the decision (the broker's copy is purged)."""
    runtime.execute(request.run_id)
    return Run.objects.get(id=request.run_id)


def test_the_requester_answers_their_runs_question_through_the_api(roles: None, purge_broker: None) -> None:
    requester = make_user("asker", "engineers")
    request = _question(requester)
    assert request.queue.requester_may_answer == "default" and request.requester_may_answer
    asker = ApiClient(requester)

    # Another engineer (not who started it) and someone with no role: refused, nothing changes.
    for other in (make_user("bystander", "engineers"), make_user("nobody")):
        refused = ApiClient(other).post(f"/api/approvals/{request.id}/decision", {"decision": "answer", "value": "A-1"})
        assert refused.status_code == 403 and refused.json()["detail"], refused.content
    _unchanged(request)
    # The requester reads the request they may answer, and a value the schema refuses is a 422.
    assert asker.get(f"/api/approvals/{request.id}").json()["interrupt"]["value"] == "What is the order id?"
    assert asker.post(f"/api/approvals/{request.id}/decision", {"decision": "answer", "value": "B-2"}).status_code == 422
    _unchanged(request)

    answered = asker.post(f"/api/approvals/{request.id}/decision", {"decision": "answer", "value": "A-12"})
    assert answered.status_code == 200, answered.content
    assert answered.json()["status"] == "responded" and answered.json()["decided_by"] == "asker"
    run = _resumed(request)
    assert run.status == Run.Status.SUCCEEDED and run.output == {"answer": "A-12"}
    (decision,) = Decision.objects.filter(request=request)
    assert decision.user == requester and decision.args == {"value": "A-12"}


def test_a_gated_refund_still_needs_a_reviewer(roles: None, purge_broker: None) -> None:
    requester = make_user("asker", "engineers")
    request = _refund(requester)
    assert request.queue.requester_may_answer == "default" and not request.requester_may_answer
    asker = ApiClient(requester)

    for body in ({"decision": "approve"}, {"decision": "reject", "comment": "no"}, {"decision": "respond", "comment": "hi"}):
        refused = asker.post(f"/api/approvals/{request.id}/decision", body)
        assert refused.status_code == 403 and refused.json()["detail"], refused.content
    # Not even a body that would be a 422: who may call comes first.
    assert asker.post(f"/api/approvals/{request.id}/decision", {"nope": 1}).status_code == 403
    assert asker.get(f"/api/approvals/{request.id}").status_code == 403
    _unchanged(request)

    approved = ApiClient(make_user("rev", "reviewers")).post(f"/api/approvals/{request.id}/decision", {"decision": "approve"})
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert _resumed(request).status == Run.Status.SUCCEEDED


def test_a_queue_set_to_never_keeps_questions_for_its_reviewers(roles: None, purge_broker: None) -> None:
    requester = make_user("asker", "engineers")
    request = _question(requester)
    _set(request.queue, Queue.RequesterMayAnswer.NEVER)

    refused = ApiClient(requester).post(f"/api/approvals/{request.id}/decision", {"decision": "answer", "value": "A-1"})
    assert refused.status_code == 403, refused.content
    _unchanged(request)
    # A requester who is also a reviewer of the queue: four-eyes, as for a gate.
    both = make_user("both", "engineers", "reviewers")
    theirs = _question(both)
    refused = ApiClient(both).post(f"/api/approvals/{theirs.id}/decision", {"decision": "answer", "value": "A-1"})
    assert refused.status_code == 403 and "four-eyes" in refused.json()["detail"]
    _unchanged(theirs)

    answered = ApiClient(make_user("rev", "reviewers")).post(
        f"/api/approvals/{request.id}/decision", {"decision": "answer", "value": "A-3"}
    )
    assert answered.status_code == 200 and answered.json()["decided_by"] == "rev"
    assert _resumed(request).output == {"answer": "A-3"}


def test_a_queue_set_to_always_lets_the_requester_approve_a_gate(roles: None, purge_broker: None) -> None:
    requester = make_user("asker", "engineers")
    _set(Queue.objects.get(name="payments"), Queue.RequesterMayAnswer.ALWAYS)
    request = _refund(requester)

    approved = ApiClient(requester).post(f"/api/approvals/{request.id}/decision", {"decision": "approve"})
    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == "approved" and approved.json()["decided_by"] == "asker"
    run = _resumed(request)
    assert run.status == Run.Status.SUCCEEDED
    # Only the run's requester: another engineer still may not.
    other = _refund(make_user("second", "engineers"))
    refused = ApiClient(requester).post(f"/api/approvals/{other.id}/decision", {"decision": "approve"})
    assert refused.status_code == 403
    _unchanged(other)


def test_a_quorum_counts_approvals_not_answers(roles: None, purge_broker: None) -> None:
    """With two approvals required, the requester's answer to a question settles it at once; under
    `always` their approval of a gate is one vote of two, and a reviewer's is the second."""
    requester = make_user("asker", "engineers")
    Queue.objects.filter(name__in=["default", "payments"]).update(required_approvals=2)
    question = _question(requester)
    answered = ApiClient(requester).post(f"/api/approvals/{question.id}/decision", {"decision": "answer", "value": "A-4"})
    assert answered.status_code == 200 and answered.json()["status"] == "responded"
    assert _resumed(question).output == {"answer": "A-4"}

    _set(Queue.objects.get(name="payments"), Queue.RequesterMayAnswer.ALWAYS)
    gate = _refund(requester)
    first = ApiClient(requester).post(f"/api/approvals/{gate.id}/decision", {"decision": "approve"})
    assert first.status_code == 200 and first.json()["status"] == "pending" and first.json()["approvals"] == 1
    second = ApiClient(make_user("rev", "reviewers")).post(f"/api/approvals/{gate.id}/decision", {"decision": "approve"})
    assert second.status_code == 200 and second.json()["status"] == "approved" and second.json()["approvals"] == 2


def test_separation_of_duties_still_applies_to_the_requester(roles: None, purge_broker: None) -> None:
    requester = make_user("asker", "engineers")
    request = _question(requester)
    request.queue.excluded_groups.add(Group.objects.get(name="engineers"))

    refused = ApiClient(requester).post(f"/api/approvals/{request.id}/decision", {"decision": "answer", "value": "A-1"})
    assert refused.status_code == 403 and "separation of duties" in refused.json()["detail"]
    _unchanged(request)


def test_the_requester_answers_on_the_request_page(roles: None, purge_broker: None) -> None:
    """The run page links the request; its page shows the requester the answer form (no inbox,
    no reassign); answering goes back to the run. A gated refund's page is refused."""
    requester = make_user("asker", "engineers")
    request = _question(requester)
    browser = logged_in(requester)

    run_page = browser.get(f"/runs/{request.run_id}/").content.decode()
    assert f'Waiting for your answer: <a href="/approvals/{request.id}/">' in run_page
    page = browser.get(f"/approvals/{request.id}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="answer-value"' in html and 'id="asked"' in html and "The run's requester may answer it" in html
    assert 'id="reassign-panel"' not in html and 'id="next-form"' not in html
    request.refresh_from_db()
    assert request.claimed_by_id is None, "the requester reading the question holds no reviewer off it"

    refused = browser.post(f"/approvals/{request.id}/decide", {"decision": "answer", "answer_mode": "json", "value": '"B-1"'})
    assert refused.status_code == 422
    _unchanged(request)
    answered = browser.post(f"/approvals/{request.id}/decide", {"decision": "answer", "answer_mode": "json", "value": '"A-7"'})
    assert answered.status_code == 302 and answered["Location"] == f"/runs/{request.run_id}/"
    assert _resumed(request).output == {"answer": "A-7"}

    gated = _refund(requester)
    assert f'Waiting for approval: <a href="/approvals/{gated.id}/">' in browser.get(f"/runs/{gated.run_id}/").content.decode()
    assert browser.get(f"/approvals/{gated.id}/").status_code == 403
    assert browser.post(f"/approvals/{gated.id}/decide", {"decision": "approve"}).status_code == 403
    _unchanged(gated)


def _middleware(allowed: list[str]) -> dict[str, Any]:
    """LangChain's HumanInTheLoopMiddleware, batched: one action and the decisions it allows."""
    return {
        "action_requests": [{"name": "send_email", "args": {"to": "a@b.test"}, "description": "Send?"}],
        "review_configs": [{"action_name": "send_email", "allowed_decisions": allowed}],
    }


def _inbox(**flags: bool) -> list[dict[str, Any]]:
    """An Agent Inbox HumanInterrupt list with `config` flags."""
    config = {"allow_respond": False, "allow_accept": False, "allow_edit": False, "allow_ignore": False, **flags}
    return [{"action_request": {"action": "send", "args": {}}, "config": config, "description": "Send?"}]


@pytest.mark.parametrize(
    ("value", "question"),
    [
        ("What is the order id?", True),
        ({"question": "Which room?"}, True),
        (_middleware(["respond"]), True),
        (_middleware(["approve", "respond"]), False),
        (_middleware(["approve", "edit", "reject"]), False),
        (_inbox(allow_respond=True), True),
        (_inbox(allow_respond=True, allow_accept=True), False),
        (_inbox(allow_edit=True), False),
        ({"queue": "payments", "action": "issue_refund", "args": {"amount": 250}}, False),
    ],
)
def test_which_interrupts_are_questions_to_the_requester(value: Any, question: bool) -> None:
    """By default the requester answers free-form questions and respond-only requests, nothing else."""
    shape = describe(value)
    assert shape.asks_a_question is question
    queue = Queue(requester_may_answer=Queue.RequesterMayAnswer.DEFAULT)
    assert queue.lets_requester_answer(shape) is question
    assert Queue(requester_may_answer="always").lets_requester_answer(shape) is True
    assert Queue(requester_may_answer="never").lets_requester_answer(shape) is False


def test_a_requester_who_also_reviews_may_not_move_their_own_request_nor_claim_their_question(
    roles: None, purge_broker: None
) -> None:
    """Four-eyes across queues: someone who reviews `payments` and started a run there cannot
    move its gated request to a queue that lets requesters approve; and a question put to them is
    answered, not claimed (a claim would hold the reviewers off it)."""
    both = make_user("both", "engineers", "reviewers")
    _set(Queue.objects.create(name="selfserve"), Queue.RequesterMayAnswer.ALWAYS)
    gated = _refund(both)
    moved = ApiClient(both).post(f"/api/approvals/{gated.id}/reassign", {"queue": "selfserve", "reason": "mine"})
    assert moved.status_code == 403 and "four-eyes" in moved.json()["detail"], moved.content
    gated.refresh_from_db()
    assert gated.queue.name == "payments" and gated.status == "pending"

    question = _question(both)
    claimed = ApiClient(both).post(f"/api/approvals/{question.id}/claim", {})
    assert claimed.status_code == 403, claimed.content
    question.refresh_from_db()
    assert question.claimed_by_id is None
