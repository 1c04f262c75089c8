"""The shipped example `hotel_booking` (agents/examples/, the interrupt inside its tool carries a
response_schema with a `type` field) answered in a real browser through the form generated from
that schema, with the real worker: the tool books the hotel the reviewer typed, and the run ends.
On a phone the JSON alternative is a monospace box that fits the screen."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.browser import login
from tests.support.inbox_pane import answered, finished, open_in_pane, paused
from tests.support.processes import ROOT

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def examples(settings: Any) -> Iterator[Path]:
    """STEWARD_LANGGRAPH_JSON set to the shipped examples' langgraph.json, as `make demo` sets it."""
    settings.STEWARD_LANGGRAPH_JSON = str(ROOT / "agents" / "examples" / "langgraph.json")
    yield Path(settings.STEWARD_LANGGRAPH_JSON)


def test_the_hotel_agent_is_answered_through_the_generated_form(
    browser: Any, examples: Path, asgi_server: str, celery_worker: Any, engineer: Any, reviewer: Any
) -> None:
    run, (request,) = paused("hotel_booking", {"messages": [{"role": "user", "content": "book a stay at the McKittrick Hotel"}]}, engineer)
    bookings = sys.modules["langgraph_json_hotel_booking"].BOOKINGS
    before = len(bookings)

    phone = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = login(phone, asgi_server, "reviewer")
        page.goto(f"{asgi_server}/approvals/{request.id}/")
        page.click("#answer-json-panel > summary")
        box = page.locator("#answer-value")
        expect(box).to_be_visible()
        assert "mono" in box.evaluate("e => getComputedStyle(e).fontFamily").lower()
        edge = box.bounding_box()
        assert edge is not None and edge["x"] >= 0 and edge["x"] + edge["width"] <= 390
    finally:
        phone.close()

    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = login(context, asgi_server, "reviewer")
        open_in_pane(page, asgi_server, request)
        # The schema's `type` (an enum) is a select; its `args` object, a fieldset of its own fields.
        expect(page.locator("#inbox-pane #af-answer-type option")).to_have_text(["accept", "edit"])
        expect(page.locator("#inbox-pane #af-answer-args legend")).to_contain_text("args")
        page.select_option("#af-answer-type", "edit")
        page.fill("#af-answer-args-hotel_name", "Hotel Tivoli")
        page.click("#answer-submit")
        answered(page, request, "responded")
    finally:
        context.close()

    assert finished(run) == {"answer": "Successfully booked a stay at Hotel Tivoli."}
    # What the agent's tool received: the hotel the reviewer typed, booked once.
    assert bookings[before:] == ["Hotel Tivoli"]
