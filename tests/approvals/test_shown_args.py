"""A gated action's arguments are shown redacted everywhere people and other systems see them,
and an edit that leaves a redacted value as shown runs the action with the original."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from typing import Any, TypedDict

import pytest
from django.test import Client
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel

from agents.engine import registry, runtime
from agents.engine.services import start_run
from approvals.gate import require_approval
from approvals.models import ApprovalRequest, Decision
from approvals.notifications import approval_payload
from approvals.services import decide
from approvals.shown_args import restore, shown
from console.kernel.models import AuditEvent

pytestmark = pytest.mark.django_db

CARD = "4111 1111 1111 1111"
ACCOUNT = 4111111111111111  # a card number stored as a number
MARK = "[redacted:card]"
# What the gated action received, in this process (runtime.execute runs the graph here).
CHARGED: list[dict[str, Any]] = []

SCHEMA = {
    "type": "object",
    "properties": {
        "card": {"type": "string"},
        "account": {"type": "integer"},
        "amount": {"type": "integer", "minimum": 1},
        "memo": {"type": "string"},
    },
    "required": ["card", "account", "amount", "memo"],
}


class ChargeInput(BaseModel):
    amount: int


class ChargeState(TypedDict):
    amount: int
    charged: str


def charge_node(state: ChargeState) -> dict[str, Any]:
    proposed = {"card": CARD, "account": ACCOUNT, "amount": state["amount"], "memo": f"charge {CARD} once"}
    decision = require_approval(
        queue="payments", action="charge_card", args=proposed, args_schema=SCHEMA, summary=f"Charge card {CARD}"
    )
    if decision["decision"] != "approve":
        return {"charged": "no"}
    CHARGED.append(dict(decision["args"]))
    return {"charged": "yes"}


def build_charge() -> StateGraph:
    graph = StateGraph(ChargeState)
    graph.add_node("charge", charge_node)
    graph.add_edge(START, "charge")
    graph.add_edge("charge", END)
    return graph


@pytest.fixture
def charge_agent() -> Iterator[None]:
    registry.register_agent("charge_card", input_schema=ChargeInput, output=lambda s: {"charged": s["charged"]})(
        build_charge
    )
    CHARGED.clear()
    try:
        yield
    finally:
        registry._REGISTRY.pop("charge_card", None)


def _waiting(user: Any) -> tuple[Any, ApprovalRequest]:
    run = start_run("charge_card", {"amount": 30}, user)
    assert runtime.execute(run.id) == "waiting"
    return run, ApprovalRequest.objects.get(run=run, status="pending")


def _assert_no_card(text: str, where: str) -> None:
    assert CARD not in text and str(ACCOUNT) not in text, f"{where} shows the card number"


def _logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_restore_puts_back_only_what_was_sent_as_shown() -> None:
    proposed = {"card": CARD, "amount": 5, "items": [{"note": f"card {CARD}"}, {"note": "plain"}]}
    assert restore(shown(proposed), proposed) == proposed
    edited = {"card": MARK, "amount": 6, "items": [{"note": f"card {MARK}"}, {"note": "changed"}], "extra": MARK}
    assert restore(edited, proposed) == {
        "card": CARD, "amount": 6, "items": [{"note": f"card {CARD}"}, {"note": "changed"}], "extra": MARK
    }
    # A value the reviewer changed stays as sent, marker text and all: never a guess.
    assert restore({"card": f"{MARK} x"}, proposed) == {"card": f"{MARK} x"}


@pytest.mark.django_db(transaction=True)
def test_the_request_page_api_and_webhook_show_the_args_redacted(
    charge_agent: None, engineer: Any, reviewer: Any, api: Any
) -> None:
    _, request = _waiting(engineer)
    assert request.proposed_args["card"] == CARD, "stored as proposed: approving runs exactly these"
    page = _logged_in(reviewer).get(f"/approvals/{request.id}/").content.decode()
    _assert_no_card(page, "the request page")
    assert html.escape(MARK) in page and "Charge card" in page
    # The edit form offers the marker in a text input, not a number input that would drop it.
    account_input = re.search(r'<input type="(\w+)"[^>]*name="arg_account" value="([^"]*)"', page)
    assert account_input is not None and account_input.groups() == ("text", html.escape(MARK))
    body = api(reviewer).get(f"/api/approvals/{request.id}")
    assert body.status_code == 200
    _assert_no_card(body.content.decode(), "the API")
    assert body.json()["proposed_args"]["card"] == MARK
    _assert_no_card(json.dumps(approval_payload(request)), "the webhook payload")


@pytest.mark.django_db(transaction=True)
def test_an_edit_from_the_page_keeps_the_redacted_originals(charge_agent: None, engineer: Any, reviewer: Any) -> None:
    run, request = _waiting(engineer)
    client = _logged_in(reviewer)
    client.get(f"/approvals/{request.id}/")  # opening claims it
    form = {
        "decision": "edit", "arg_card": MARK, "arg_account": MARK, "arg_amount": "7",
        "arg_memo": f"charge {MARK} once", "comment": "lower amount",
    }
    preview = client.post(f"/approvals/{request.id}/decide", form)
    assert preview.status_code == 200
    preview_text = preview.content.decode()
    _assert_no_card(preview_text, "the edit preview")
    diff = re.search(r'<table class="diff" id="edit-diff".*?</table>', preview_text, re.S)
    assert diff is not None and "<td>amount</td>" in diff.group(0) and "<td>card</td>" not in diff.group(0)
    done = client.post(f"/approvals/{request.id}/decide", {**form, "confirm": "yes"})
    assert done.status_code in (200, 302)
    decision = Decision.objects.get(request=request)
    expected = {"card": CARD, "account": ACCOUNT, "amount": 7, "memo": f"charge {CARD} once"}
    # Stored redacted like all reviewer text; the exact arguments are sealed beside them.
    assert decision.exact()["approved_args"] == expected
    assert decision.approved_args == shown(expected)
    assert decision.args_diff == [{"field": "amount", "from": 30, "to": 7}]
    assert runtime.execute(run.id) == "succeeded"
    assert CHARGED == [expected]
    for event in AuditEvent.objects.filter(object_id=str(request.id)):
        _assert_no_card(json.dumps(event.data), f"audit event {event.action}")
    _assert_no_card(_logged_in(reviewer).get(f"/approvals/{request.id}/").content.decode(), "the decided request's page")


@pytest.mark.django_db(transaction=True)
def test_an_api_edit_may_send_the_markers_back(charge_agent: None, engineer: Any, reviewer: Any, api: Any) -> None:
    run, request = _waiting(engineer)
    client = api(reviewer)
    shown_args = client.get(f"/api/approvals/{request.id}").json()["proposed_args"]
    response = client.post(
        f"/api/approvals/{request.id}/decision", {"decision": "edit", "args": {**shown_args, "amount": 9}}
    )
    assert response.status_code == 200, response.content
    _assert_no_card(response.content.decode(), "the decision's answer")
    assert runtime.execute(run.id) == "succeeded"
    assert CHARGED == [{"card": CARD, "account": ACCOUNT, "amount": 9, "memo": f"charge {CARD} once"}]


@pytest.mark.django_db(transaction=True)
def test_the_live_outcome_on_the_request_page_shows_the_args_redacted(
    charge_agent: None, engineer: Any, reviewer: Any
) -> None:
    """Once decided, the page's live update (the websocket's render of the outcome) shows the
    approved arguments redacted, as the page itself does."""
    from tests.support.live import open_socket, received, run_async

    _, request = _waiting(engineer)
    decide(request.id, reviewer, "approve")

    async def scenario() -> None:
        communicator, accepted, _ = await open_socket(f"subscribe=approvals&view=approval:{request.id}", reviewer)
        assert accepted is True
        pushed = await received(communicator)
        await communicator.disconnect()
        assert 'id="approval-outcome"' in pushed or "Approved arguments" in pushed, pushed[:500]
        _assert_no_card(pushed, "the live outcome")
        assert html.escape(MARK) in pushed

    run_async(scenario)
