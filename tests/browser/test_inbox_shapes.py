"""Each interrupt shape answered in the inbox's pane, in a real browser, through a real worker.

The agents are written the LangChain/LangGraph docs' way (tests/support/interrupt_agents.py:
HumanInTheLoopMiddleware batched and per call, an Agent Inbox HumanInterrupt, a plain question
with a response_schema) and Steward's own gate (the refund demo). Each test starts runs that the
Celery worker executes to their interrupt, answers them in the inbox without a page load, and
checks what the agent's own code received: the emails its tool really sent, its final state.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from agents.demo.models import Refund
from approvals.models import ApprovalRequest
from tests.support.browser import login
from tests.support.inbox_pane import answered, finished, open_in_pane, paused
from tests.support.interrupt_agents import SENT_EMAILS
from tests.support.runs import order_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]


def _address() -> str:
    return f"{uuid.uuid4().hex[:10]}@example.test"


def test_middleware_batched_and_per_call_answered_in_the_pane(
    browser: Any, asgi_server: str, celery_worker: Any, engineer: Any, reviewer: Any
) -> None:
    """HumanInTheLoopMiddleware, batched: one decision per action (approve, edit, reject) in one
    form; the tool sends the approved email as proposed, the edited one as edited, not the
    rejected one, whose message the agent reads. Per call: `a` approves one call, Reject with a
    message refuses the other."""
    kept, edited, refused = _address(), _address(), _address()
    batch_run, (batch,) = paused("hitl_email", {"request": f"email {kept},{edited},{refused} about Hello"}, engineer)
    yes, no = _address(), _address()
    call_run, calls = paused("hitl_email_per_call", {"request": f"email {yes},{no} about Yo"}, engineer, count=2)
    by_address = {c.proposed_args["to"]: c for c in calls}

    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = login(context, asgi_server, "reviewer")
        open_in_pane(page, asgi_server, batch)
        expect(page.locator("#inbox-pane .interrupt-action")).to_have_count(3)
        page.select_option("#action-0-decision", "approve")
        page.select_option("#action-1-decision", "edit")
        page.fill("textarea[name=action_1_args]", f'{{"to": "{edited}", "subject": "Hello", "body": "edited in the inbox"}}')
        page.select_option("#action-2-decision", "reject")
        page.fill("input[name=action_2_comment]", "not this one")
        page.click("#actions-form button[type=submit]")
        answered(page, batch, "approved")

        open_in_pane(page, asgi_server, by_address[yes])
        expect(page.locator("#inbox-pane #edit-panel")).to_have_count(0)  # the config allows approve and reject
        page.keyboard.press("a")
        answered(page, by_address[yes], "approved")
        open_in_pane(page, asgi_server, by_address[no])
        page.keyboard.press("r")
        page.fill("#reject-comment", "wrong person")
        page.keyboard.press("Enter")
        answered(page, by_address[no], "rejected")
    finally:
        context.close()

    output = finished(batch_run)
    assert SENT_EMAILS[kept] == [{"subject": "Hello", "body": "hello"}]
    assert SENT_EMAILS[edited] == [{"subject": "Hello", "body": "edited in the inbox"}]
    assert refused not in SENT_EMAILS
    assert any("not this one" in result for result in output["tool_results"])
    output = finished(call_run)
    assert SENT_EMAILS[yes] == [{"subject": "Yo", "body": "hello"}]
    assert no not in SENT_EMAILS
    assert any("wrong person" in result for result in output["tool_results"])


def test_agent_inbox_edit_respond_ignore_in_the_pane_and_its_description_is_text(
    browser: Any, asgi_server: str, celery_worker: Any, engineer: Any, reviewer: Any
) -> None:
    """Agent Inbox: no Approve (allow_accept is false); edit (previewed as a diff in the pane, then
    confirmed), respond and ignore each reach the agent in its own shape. A description carrying
    a `<script>` and an `<img onerror>` shows as text: markdown's bold is bold, nothing runs."""
    to_edit, to_answer, to_ignore, to_note = _address(), _address(), _address(), _address()
    edit_run, (edit,) = paused("inbox_email", {"to": to_edit}, engineer)
    answer_run, (answer,) = paused("inbox_email", {"to": to_answer}, engineer)
    ignore_run, (ignore,) = paused("inbox_email", {"to": to_ignore}, engineer)
    _, (noted,) = paused("inbox_email_noted", {"to": to_note}, engineer)

    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = login(context, asgi_server, "reviewer")
        open_in_pane(page, asgi_server, noted)
        description = page.locator("#inbox-pane .description")
        expect(description.locator("strong")).to_have_text("Check")
        expect(description).to_contain_text("<script>window.__pwned = 1</script>")
        expect(description).to_contain_text('<img src=x onerror="window.__pwned = 2">')
        expect(description.locator("script, img")).to_have_count(0)
        assert page.evaluate("window.__pwned") is None

        open_in_pane(page, asgi_server, edit)
        expect(page.locator("#inbox-pane #approve-button")).to_have_count(0)
        page.keyboard.press("e")
        page.fill("#arg_body", "corrected")
        page.click("#edit-review-button")
        expect(page.locator("#edit-diff")).to_contain_text("corrected")
        page.click("#confirm-edit")
        answered(page, edit, "approved")

        open_in_pane(page, asgi_server, answer)
        page.click("#respond-panel > summary")
        page.fill("#respond-comment", "Ask finance first")
        page.click("#respond-button")
        answered(page, answer, "responded")

        open_in_pane(page, asgi_server, ignore)
        page.keyboard.press("r")
        page.click("#reject-button")  # "Ignore" for Agent Inbox
        answered(page, ignore, "rejected")
    finally:
        context.close()

    assert finished(edit_run) == {"outcome": f"sent to {to_edit}: Invoice"}
    assert SENT_EMAILS[to_edit] == [{"subject": "Invoice", "body": "corrected"}]
    assert finished(answer_run) == {"outcome": "response: Ask finance first"}
    assert finished(ignore_run) == {"outcome": "ignored"}
    assert to_answer not in SENT_EMAILS and to_ignore not in SENT_EMAILS


def test_a_question_and_stewards_gate_answered_in_the_pane(
    browser: Any, asgi_server: str, celery_worker: Any, engineer: Any, reviewer: Any
) -> None:
    """A plain interrupt() with a response_schema takes an answer from the answer form: one that
    breaks the schema is refused in the pane (still pending, what was typed kept), a good one is
    what the node receives. Steward's own gate (the refund) is approved with `a`, and the refund is
    written once."""
    question_run, (question,) = paused("question", {"topic": "order"}, engineer)
    order = order_id("B")
    refund_run, (gate,) = paused("refund", {"order_id": order, "amount": 250, "reason": "late"}, engineer)

    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = login(context, asgi_server, "reviewer")
        open_in_pane(page, asgi_server, question)
        expect(page.locator("#interrupt-question")).to_contain_text("What is the order id?")
        expect(page.locator("#inbox-pane #approve-button")).to_have_count(0)
        page.fill("#af-answer", "B-7")  # the field generated from the schema (a string)
        page.click("#answer-form button[type=submit]")
        expect(page.locator("#problem")).to_be_visible()
        expect(page.locator("#af-answer-error")).to_contain_text("does not match")
        expect(page.locator("#af-answer")).to_have_value("B-7")
        assert ApprovalRequest.objects.get(id=question.id).status == "pending"
        page.fill("#af-answer", "A-1042")
        page.click("#answer-form button[type=submit]")
        answered(page, question, "responded")

        open_in_pane(page, asgi_server, gate)
        expect(page.locator("#inbox-pane .meta .amount")).to_have_text("250.00 USD")
        page.keyboard.press("a")
        answered(page, gate, "approved")
    finally:
        context.close()

    assert finished(question_run) == {"answer": "A-1042"}
    finished(refund_run)
    assert [str(r.amount) for r in Refund.objects.filter(order_id=order)] == ["250.00"]


def test_a_requester_in_no_queue_answers_their_runs_question_in_the_inbox(
    browser: Any, asgi_server: str, celery_worker: Any, engineer: Any
) -> None:
    """The engineer who started the runs reviews no queue: the navigation's Approvals link takes
    them to "Asked of you", which lists their question (not their gated refund, four-eyes); they
    answer it in the pane and the run finishes with their answer."""
    question_run, (question,) = paused("question", {"topic": "order"}, engineer)
    _, (gate,) = paused("refund", {"order_id": order_id("Q"), "amount": 250, "reason": "late"}, engineer)

    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = login(context, asgi_server, "engineer")
        page.goto(asgi_server + "/runs/")
        page.get_by_role("link", name="Approvals").click()
        expect(page.locator("#asked-tab")).to_have_attribute("aria-current", "page")
        expect(page.locator("#asked-count")).to_have_text("1")
        expect(page.locator("li.approval")).to_have_count(1)
        expect(page.locator(f"#approval-{question.id}")).to_be_visible()
        expect(page.locator(f"#approval-{gate.id}")).to_have_count(0)
        expect(page.locator("#pane-body")).to_have_attribute("data-approval-id", str(question.id))
        expect(page.locator("#interrupt-question")).to_contain_text("What is the order id?")
        page.evaluate("window.__stayed = true")
        page.fill("#af-answer", "A-2024")
        page.click("#answer-form button[type=submit]")
        answered(page, question, "responded")
        expect(page.locator("li.approval")).to_have_count(0)
    finally:
        context.close()

    assert finished(question_run) == {"answer": "A-2024"}
    assert ApprovalRequest.objects.get(id=gate.id).status == "pending"
