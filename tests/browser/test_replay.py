"""An engineer replays a failed run from a step in the browser and compares it with the original."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from agents.engine.models import Run
from agents.engine.services import start_run
from tests.support.browser import login
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]


def test_replay_from_a_step_then_the_diff(browser: Any, asgi_server: str, celery_worker: Any, engineer: Any) -> None:
    """Replay panel → from step 2 (the failing one), recorded → the new run fails the same way (live on its page)
    → compare: no divergence, the inherited steps marked."""
    original = start_run("stock_check", {"sku": "BROKEN-9"}, engineer)
    wait_for(lambda: Run.objects.get(id=original.id).status == "failed")  # the worker runs it
    context = browser.new_context()
    try:
        page = login(context, asgi_server, "engineer")
        page.goto(f"{asgi_server}/runs/{original.id}/")
        page.click("#replay-panel summary")
        page.select_option("#replay-panel select[name=from_step]", "2")
        page.select_option("#replay-panel select[name=mode]", "recorded")
        page.click("#start-replay")
        page.wait_for_url("**/runs/*/")
        replayed = Run.objects.get(parent_run=original)
        # (A failed run's page selects its failing step: the address may carry ?span= by now.)
        assert urlsplit(page.url).path == f"/runs/{replayed.id}/"
        expect(page.locator("#run-status")).to_have_text("failed", timeout=20_000)
        expect(page.locator(".replay-links")).to_contain_text("from step 2")
        page.click(".replay-links a:has-text('compare')")
        page.wait_for_url(f"**/runs/{original.id}/diff/{replayed.id}/")
        expect(page.locator("body")).to_contain_text(re.compile("no divergence", re.I))
        expect(page.locator("body")).to_contain_text("inherited")
    finally:
        context.close()


def test_cassette_replay_shows_the_safety_preview_then_books_nothing(browser: Any, asgi_server: str, celery_worker: Any, engineer: Any) -> None:
    """Replay panel → cassette → the preview lists the nodes that run again and the ToolNode's
    booking (played back, not run) and says what is not intercepted → confirm → the replay
    succeeds and nothing is booked again."""
    from tests.support.docs_agents import BOOKINGS

    BOOKINGS.clear()
    original = start_run("docs_hotel", {"hotel": "Sacher"}, engineer)
    wait_for(lambda: Run.objects.get(id=original.id).status == "succeeded")
    context = browser.new_context()
    try:
        page = login(context, asgi_server, "engineer")
        page.goto(f"{asgi_server}/runs/{original.id}/")
        page.click("#replay-panel summary")
        page.select_option("#replay-panel select[name=mode]", "cassette")
        page.click("#start-replay")
        expect(page.locator("#preview-nodes")).to_contain_text("tools")
        expect(page.locator("#preview-tool-calls")).to_contain_text("book_hotel")
        expect(page.locator("#preview-tool-calls")).to_contain_text("played back, not run")
        expect(page.locator("#not-intercepted")).to_contain_text("plain HTTP call")
        assert not Run.objects.filter(parent_run=original).exists()
        page.click("#confirm-replay")
        page.wait_for_url("**/runs/*/")
        replayed = Run.objects.get(parent_run=original)
        expect(page.locator("#run-status")).to_have_text("succeeded", timeout=20_000)
        assert replayed.metadata["replay"]["mode"] == "cassette" and BOOKINGS == ["Sacher"]
    finally:
        context.close()
