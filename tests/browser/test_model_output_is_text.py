"""Model output, tool arguments and errors are shown as text: a script payload never runs,
neither in the page as rendered nor in the fragments the websocket swaps in."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from agents.engine import runtime
from agents.engine.services import start_run
from tests.support.browser import login

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]

SCRIPT = "<script>window.__pwned = 1</script>"
IMG = '<img src=x onerror="window.__pwned = 2">'
PAYLOAD = SCRIPT + IMG + '<b hx-get="/runs/" hx-trigger="load">x</b>'


def test_script_payload_in_model_output_is_shown_as_text(browser: Any, asgi_server: str, engineer: Any) -> None:
    """The refund agent repeats the order id in its answer and its tool calls; the payload there
    appears as literal text and no script, handler or htmx request runs."""
    run = start_run("refund", {"order_id": SCRIPT, "amount": 20, "reason": PAYLOAD}, engineer)
    assert runtime.execute(run.id) == "succeeded"
    failed = start_run("stock_check", {"sku": "BROKEN" + IMG}, engineer)
    assert runtime.execute(failed.id) == "failed"

    context = browser.new_context()
    try:
        page = login(context, asgi_server, "engineer")
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        for run_id in (run.id, failed.id):
            page.goto(f"{asgi_server}/runs/{run_id}/")
            # The websocket's full refresh on connect swaps the same fragments in again.
            page.wait_for_timeout(1500)
            assert page.evaluate("window.__pwned") is None
            expect(page.locator("#run-header")).to_be_visible()
        expect(page.locator(".run-error-message")).to_contain_text(IMG)
        page.goto(f"{asgi_server}/runs/{run.id}/")
        expect(page.locator("#run-output")).to_contain_text(SCRIPT)
        # The payloads load when a step is opened: the tool call's arguments and the model's
        # messages carry the payload too.
        page.click("a.span-row.tool >> nth=0")
        expect(page.locator(".span-detail")).to_contain_text(SCRIPT)
        page.click("a.span-row.model >> nth=0")
        expect(page.locator(".span-detail")).to_contain_text("hx-get")
        page.wait_for_timeout(1000)
        assert page.evaluate("window.__pwned") is None
        assert not [u for u in requests if u.rstrip("/").endswith("/runs") or "/x" in u]
        assert page.locator("img[src=x]").count() == 0
    finally:
        context.close()
