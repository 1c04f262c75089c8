"""Interrupts in every shape reach the reviewer, and each answer reaches the agent in its own shape.

The agents are written the LangChain docs' way (tests/support/interrupt_agents.py): LangChain's
HumanInTheLoopMiddleware (batched and per call), an Agent Inbox HumanInterrupt, a plain question
and two parallel questions (Send). A real worker runs them; only the model is faked.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from agents.engine import runtime
from agents.engine.services import start_run
from approvals.models import ApprovalRequest, Queue
from approvals.services import enforce_sla
from tests.support.interrupt_agents import SENT_EMAILS
from tests.support.processes import ROOT
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _address() -> str:
    return f"{uuid.uuid4().hex[:10]}@example.test"


def _start(client: Any, agent: str, data: dict[str, Any]) -> str:
    response = client.post("/api/runs", {"agent": agent, "input": data})
    assert response.status_code == 201, response.content
    return str(response.json()["id"])


def _run_when(client: Any, run_id: str, status: str) -> dict[str, Any]:
    def settled() -> dict[str, Any] | None:
        run = client.get(f"/api/runs/{run_id}").json()
        assert run["status"] != "failed", run
        return run if run["status"] == status else None

    return wait_for(settled)


def _pending(client: Any, run_id: str, count: int = 1) -> list[dict[str, Any]]:
    def find() -> list[dict[str, Any]] | None:
        items = client.get("/api/approvals", status="pending").json()["items"]
        mine = [a for a in items if a["run_id"] == run_id]
        return mine if len(mine) == count else None

    return wait_for(find)


def _decide(client: Any, approval_id: str, body: dict[str, Any]) -> Any:
    return client.post(f"/api/approvals/{approval_id}/decision", body)


def _refused(client: Any, approval_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """A decision the interrupt does not allow: 422, and the request is still pending, unvoted."""
    response = _decide(client, approval_id, body)
    assert response.status_code == 422, response.content
    after = client.get(f"/api/approvals/{approval_id}").json()
    assert after["status"] == "pending" and after["decisions"] == []
    detail: dict[str, Any] = response.json()
    return detail


def test_batched_middleware_gets_one_decision_per_action_in_order(celery_worker: Any, api: Any, engineer: Any, reviewer: Any) -> None:
    eng, rev = api(engineer), api(reviewer)
    first, second = _address(), _address()
    run_id = _start(eng, "hitl_email", {"request": f"email {first},{second} about Hello"})
    _run_when(eng, run_id, "waiting")
    (request,) = _pending(rev, run_id)

    shown = rev.get(f"/api/approvals/{request['id']}").json()["interrupt"]
    assert shown["kind"] == "hitl_batch"
    assert [(a["name"], a["args"]["to"]) for a in shown["actions"]] == [("send_email", first), ("send_email", second)]
    assert all(a["allowed"] == ["approve", "edit", "reject", "respond"] for a in shown["actions"])
    assert "Tool execution requires approval" in shown["actions"][0]["description"]
    assert shown["actions"][0]["args_schema"]["properties"].keys() == {"to", "subject", "body"}

    # Two actions need two decisions; an edit may not add what the tool does not declare.
    _refused(rev, request["id"], {"decision": "approve"})
    _refused(rev, request["id"], {"actions": [{"decision": "approve"}], "decision": "approve"})
    added = _refused(rev, request["id"], {"decision": "approve", "actions": [
        {"decision": "edit", "args": {"to": first, "subject": "Hello", "body": "x", "bcc": "spy@example.test"}},
        {"decision": "approve"},
    ]})
    assert "bcc" in str(added["detail"])
    _refused(rev, request["id"], {"decision": "approve", "actions": [{"decision": "edit", "args": {"to": first}}, {"decision": "approve"}]})

    response = _decide(rev, request["id"], {"decision": "approve", "actions": [
        {"decision": "edit", "args": {"to": first, "subject": "Hello", "body": "edited by the reviewer"}},
        {"decision": "reject", "comment": "not this one"},
    ]})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "approved"

    output = _run_when(eng, run_id, "succeeded")["output"]
    assert SENT_EMAILS[first] == [{"subject": "Hello", "body": "edited by the reviewer"}]
    assert second not in SENT_EMAILS
    assert any("not this one" in result for result in output["tool_results"])
    assert output["reply"].startswith("done:")
    stored = ApprovalRequest.objects.get(id=request["id"]).resume_value
    assert stored == {"decisions": [
        {"type": "edit", "edited_action": {"name": "send_email", "args": {"to": first, "subject": "Hello", "body": "edited by the reviewer"}}},
        {"type": "reject", "message": "not this one"},
    ]}


def test_one_action_middleware_request_takes_the_plain_form(celery_worker: Any, api: Any, engineer: Any, reviewer: Any) -> None:
    eng, rev = api(engineer), api(reviewer)
    to = _address()
    run_id = _start(eng, "hitl_email", {"request": f"email {to} about Hi"})
    (request,) = _pending(rev, run_id)
    _refused(rev, request["id"], {"decision": "respond", "comment": "  "})
    _refused(rev, request["id"], {"decision": "answer", "value": "hi"})

    response = _decide(rev, request["id"], {"decision": "respond", "comment": "Already sent it yesterday"})
    assert response.status_code == 200 and response.json()["status"] == "responded"
    output = _run_when(eng, run_id, "succeeded")["output"]
    assert to not in SENT_EMAILS
    assert output["tool_results"] == ["Already sent it yesterday"]


def test_per_call_middleware_requests_are_answered_by_interrupt_id(celery_worker: Any, api: Any, engineer: Any, reviewer: Any) -> None:
    eng, rev = api(engineer), api(reviewer)
    yes, no = _address(), _address()
    run_id = _start(eng, "hitl_email_per_call", {"request": f"email {yes},{no} about Yo"})
    requests = {r["proposed_args"]["to"]: r for r in _pending(rev, run_id, count=2)}
    for request in requests.values():
        assert request["interrupt"]["kind"] == "hitl_call"
        assert request["interrupt"]["allowed"] == ["approve", "reject"]
        assert request["action"] == "send_email" and request["tool_call_id"].startswith("call_")

    # The tool's config allows no edit and no response.
    refused = _refused(rev, requests[yes]["id"], {"decision": "edit", "args": {"to": yes, "subject": "Yo", "body": "b"}})
    assert "approve, reject" in str(refused["detail"])
    _refused(rev, requests[yes]["id"], {"decision": "respond", "comment": "no"})

    assert _decide(rev, requests[yes]["id"], {"decision": "approve"}).status_code == 200
    assert _decide(rev, requests[no]["id"], {"decision": "reject", "comment": "wrong person"}).status_code == 200
    output = _run_when(eng, run_id, "succeeded")["output"]
    assert SENT_EMAILS[yes] == [{"subject": "Yo", "body": "hello"}]
    assert no not in SENT_EMAILS
    assert any("wrong person" in result for result in output["tool_results"])
    assert ApprovalRequest.objects.get(id=requests[no]["id"]).resume_value == {"type": "reject", "message": "wrong person"}


def _inbox_request(eng: Any, rev: Any, to: str) -> tuple[str, dict[str, Any]]:
    run_id = _start(eng, "inbox_email", {"to": to})
    (request,) = _pending(rev, run_id)
    return run_id, request


def test_agent_inbox_edit_reaches_the_agent_and_only_allowed_answers_pass(celery_worker: Any, api: Any, engineer: Any, reviewer: Any) -> None:
    eng, rev = api(engineer), api(reviewer)
    to = _address()
    run_id, request = _inbox_request(eng, rev, to)
    shown = request["interrupt"]
    assert shown["kind"] == "agent_inbox"
    assert shown["actions"][0]["name"] == "send_email"
    assert shown["actions"][0]["args"] == {"to": to, "subject": "Invoice", "body": "attached"}
    assert shown["actions"][0]["description"] == "# Send the invoice\n<b>check</b> the address"
    assert shown["allowed"] == ["edit", "reject", "respond"]

    _refused(rev, request["id"], {"decision": "approve"})  # allow_accept is False
    # No tool node declares send_email here: an edit may change only the keys already there.
    _refused(rev, request["id"], {"decision": "edit", "args": {"to": to, "subject": "Invoice", "body": "b", "cc": "x@example.test"}})

    edited = {"to": to, "subject": "Invoice", "body": "corrected"}
    response = _decide(rev, request["id"], {"decision": "edit", "args": edited})
    assert response.status_code == 200 and response.json()["status"] == "approved"
    output = _run_when(eng, run_id, "succeeded")["output"]
    assert output == {"outcome": f"sent to {to}: Invoice"}
    assert SENT_EMAILS[to] == [{"subject": "Invoice", "body": "corrected"}]
    assert ApprovalRequest.objects.get(id=request["id"]).resume_value == [
        {"type": "edit", "args": {"action": "send_email", "args": edited}}
    ]


def test_agent_inbox_ignore_and_response(celery_worker: Any, api: Any, engineer: Any, reviewer: Any) -> None:
    eng, rev = api(engineer), api(reviewer)
    ignored_to, answered_to = _address(), _address()
    ignored_run, ignored = _inbox_request(eng, rev, ignored_to)
    answered_run, answered = _inbox_request(eng, rev, answered_to)

    response = _decide(rev, ignored["id"], {"decision": "reject"})
    assert response.status_code == 200
    assert response.json()["status"] == "rejected" and response.json()["decisions"][0]["reason_code"] == "ignored"
    response = _decide(rev, answered["id"], {"decision": "respond", "comment": "Ask finance first"})
    assert response.status_code == 200 and response.json()["status"] == "responded"

    assert _run_when(eng, ignored_run, "succeeded")["output"] == {"outcome": "ignored"}
    assert _run_when(eng, answered_run, "succeeded")["output"] == {"outcome": "response: Ask finance first"}
    assert ignored_to not in SENT_EMAILS and answered_to not in SENT_EMAILS


def test_a_plain_question_takes_an_answer_checked_against_its_schema(celery_worker: Any, api: Any, engineer: Any, reviewer: Any) -> None:
    eng, rev = api(engineer), api(reviewer)
    run_id = _start(eng, "question", {"topic": "order"})
    (request,) = _pending(rev, run_id)
    assert request["interrupt"]["kind"] == "free_form"
    assert request["interrupt"]["value"] == "What is the order id?"
    assert request["interrupt"]["allowed"] == ["answer"]
    assert request["summary"] == "What is the order id?"

    _refused(rev, request["id"], {"decision": "approve"})
    _refused(rev, request["id"], {"decision": "answer"})
    _refused(rev, request["id"], {"decision": "answer", "value": 42})
    _refused(rev, request["id"], {"decision": "answer", "value": "B-7"})

    response = _decide(rev, request["id"], {"decision": "answer", "value": "A-1042"})
    assert response.status_code == 200 and response.json()["status"] == "responded"
    assert _run_when(eng, run_id, "succeeded")["output"] == {"answer": "A-1042"}


def test_parallel_interrupts_are_separate_requests_resumed_by_id(celery_worker: Any, api: Any, engineer: Any, reviewer: Any) -> None:
    eng, rev = api(engineer), api(reviewer)
    run_id = _start(eng, "parallel_questions", {"items": ["apples", "pears"]})
    requests = {r["interrupt"]["value"]: r for r in _pending(rev, run_id, count=2)}
    assert set(requests) == {"Ship apples?", "Ship pears?"}

    assert _decide(rev, requests["Ship apples?"]["id"], {"decision": "answer", "value": {"ship": True, "crates": 3}}).status_code == 200
    _run_when(eng, run_id, "waiting")
    assert _decide(rev, requests["Ship pears?"]["id"], {"decision": "answer", "value": "no"}).status_code == 200
    output = _run_when(eng, run_id, "succeeded")["output"]
    assert output == {"answers": ["apples: {'ship': True, 'crates': 3}", "pears: no"]}


# --- the request page: the shape's actions, and only the answers it allows ------------------------


def _waiting_request(agent: str, data: dict[str, Any], user: Any) -> tuple[Any, ApprovalRequest]:
    run = start_run(agent, data, user)
    assert runtime.execute(run.id) == "waiting"
    return run, ApprovalRequest.objects.get(run=run, status=ApprovalRequest.Status.PENDING)


def test_the_page_shows_an_inbox_request_as_text_with_only_its_allowed_buttons(client_for: Any, engineer: Any, reviewer: Any) -> None:
    _, request = _waiting_request("inbox_email", {"to": _address()}, engineer)
    page = client_for(reviewer).get(reverse("approval_detail", args=[request.id]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "# Send the invoice\n&lt;b&gt;check&lt;/b&gt; the address" in html and "<b>check</b>" not in html
    # The description is markdown with raw HTML off: its heading is a heading, its tag is text.
    assert '<div class="description"><h1>Send the invoice</h1>\n<p>&lt;b&gt;check&lt;/b&gt; the address</p>' in html
    assert 'id="approve-button"' not in html  # allow_accept is False
    assert 'id="edit-panel"' in html and 'id="respond-panel"' in html and ">Ignore</button>" in html
    assert 'id="arg_body"' in html  # no tool schema: the keys already there are the ones to edit


def test_the_page_answers_a_question_and_decides_a_batch(client_for: Any, engineer: Any, reviewer: Any) -> None:
    browser = client_for(reviewer)
    run, question = _waiting_request("question", {"topic": "t"}, engineer)
    html = browser.get(reverse("approval_detail", args=[question.id])).content.decode()
    assert "What is the order id?" in html and 'id="answer-form"' in html
    assert 'id="approve-button"' not in html and 'id="reject-panel"' not in html
    refused = browser.post(reverse("approval_decide", args=[question.id]), {"decision": "answer", "answer_mode": "form", "answer": "B-1"})
    assert refused.status_code == 422 and ApprovalRequest.objects.get(id=question.id).status == "pending"
    browser.post(reverse("approval_decide", args=[question.id]), {"decision": "answer", "answer_mode": "form", "answer": "A-7"})
    assert runtime.execute(run.id) == "succeeded"
    run.refresh_from_db()
    assert run.output == {"answer": "A-7"}

    first, second = _address(), _address()
    run, batch = _waiting_request("hitl_email", {"request": f"email {first},{second} about Hi"}, engineer)
    html = browser.get(reverse("approval_detail", args=[batch.id])).content.decode()
    assert 'id="actions-form"' in html and 'id="approve-button"' not in html
    assert html.count('class="interrupt-action"') == 2
    browser.post(reverse("approval_decide", args=[batch.id]), {
        "decision": "actions", "action_0_decision": "approve", "action_1_decision": "respond", "action_1_comment": "skip",
    })
    assert runtime.execute(run.id) == "succeeded"
    assert SENT_EMAILS[first] == [{"subject": "Hi", "body": "hello"}] and second not in SENT_EMAILS


def test_an_sla_timeout_resumes_the_agent_in_its_own_shape(engineer: Any) -> None:
    """A queue that rejects overdue requests rejects a middleware request the middleware's way; a
    question, which takes no rejection, keeps waiting."""
    to = _address()
    run, request = _waiting_request("hitl_email_per_call", {"request": f"email {to} about Late"}, engineer)
    _, question = _waiting_request("question", {"topic": "t"}, engineer)
    Queue.objects.filter(name="default").update(timeout_action=Queue.TimeoutAction.REJECT)
    ApprovalRequest.objects.filter(id__in=[request.id, question.id]).update(due_at=timezone.now() - timedelta(minutes=1))

    enforce_sla()

    assert ApprovalRequest.objects.get(id=question.id).status == "pending"
    assert ApprovalRequest.objects.get(id=request.id).status == "rejected"
    assert runtime.execute(run.id) == "succeeded"
    run.refresh_from_db()
    assert to not in SENT_EMAILS
    assert "decided automatically" in run.output["tool_results"][0]


def test_a_question_asked_as_a_dict_is_summed_up_by_its_question_and_shown_as_json(
    settings: Any, client_for: Any, engineer: Any, reviewer: Any
) -> None:
    # The example written the LangGraph way: interrupt({"question": ..., "ticket": ..., "category": ...}).
    settings.STEWARD_LANGGRAPH_JSON = str(ROOT / "agents" / "examples" / "langgraph.json")
    _, request = _waiting_request("async_triage", {"ticket": "I was charged twice"}, engineer)
    assert request.summary == "How should we answer this ticket?"
    html = client_for(reviewer).get(reverse("approval_detail", args=[request.id])).content.decode()
    shown = html.split('id="proposed-args"')[1].split("</dl>")[0]
    assert "&quot;question&quot;: &quot;How should we answer this ticket?&quot;" in shown, shown
    assert "{&#x27;question&#x27;" not in shown  # not Python's repr
