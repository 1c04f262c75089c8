"""Under the Content-Security-Policy every page still works in a real browser: the charts, the
Mermaid graph, the live websocket, the theme toggle, Swagger UI and the admin, with no
violation reported (the browser's own securitypolicyviolation events, and its console)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from agents.engine import runtime
from agents.engine.services import start_run
from approvals.models import ApprovalRequest
from tests.support.browser import login

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]

# Runs before any page script; Playwright adds it outside the page's CSP.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sourceFile || "") + ":" + e.lineNumber);
});
"""


def clean(page: Any) -> None:
    """No violation on the page so far (checked before leaving it: each page starts a new list)."""
    page.wait_for_load_state("networkidle")
    violations = page.evaluate("window.__csp")
    assert violations == [], (page.url, violations)


def test_pages_work_under_the_csp_without_violations(
    browser: Any, asgi_server: str, admin_user: Any, engineer: Any
) -> None:
    run = start_run("refund", {"order_id": "CSP-1", "amount": 250, "reason": "x"}, engineer)
    assert runtime.execute(run.id) == "waiting"
    approval = ApprovalRequest.objects.get(run=run)
    context = browser.new_context()
    context.add_init_script(RECORD_VIOLATIONS)
    console: list[str] = []
    try:
        page = login(context, asgi_server, "admin")
        page.on("console", lambda m: console.append(m.text) if "Content Security Policy" in m.text else None)
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))

        # The dashboard draws its charts with Chart.js (a static file reading json_script data).
        page.goto(f"{asgi_server}/")
        assert page.evaluate("typeof window.Chart") == "function"
        expect(page.locator("#chart-runs")).to_be_visible()
        assert page.evaluate("Chart.getChart(document.getElementById('chart-runs')) !== undefined")
        clean(page)

        # The theme toggle (static/console/steward.js) still switches the theme.
        before = page.evaluate("document.documentElement.dataset.theme")
        page.click("#theme-toggle")
        assert page.evaluate("document.documentElement.dataset.theme") != before

        # Mermaid draws the graph as an SVG (with its inline <style>, allowed by style-src).
        page.goto(f"{asgi_server}/runs/{run.id}/graph")
        expect(page.locator("#run-graph-source svg")).to_be_visible(timeout=15_000)
        expect(page.locator(".run-graph .flash.error")).to_have_count(0)
        clean(page)

        # The run page connects its websocket (connect-src 'self' covers ws:).
        page.goto(f"{asgi_server}/runs/{run.id}/")
        expect(page.locator("#run-header")).to_be_visible()
        page.wait_for_timeout(1000)
        assert any("/ws/live/" in url for url in sockets), sockets
        clean(page)

        # The approval page, its queue's analytics (Chart.js again), Swagger UI and the admin.
        page.goto(f"{asgi_server}/approvals/{approval.id}/")
        expect(page.locator("#proposed-args")).to_be_visible()
        clean(page)
        page.goto(f"{asgi_server}/queues/{approval.queue.name}/analytics")
        assert page.evaluate("typeof window.Chart") == "function"
        clean(page)
        page.goto(f"{asgi_server}/api/docs")
        expect(page.locator(".swagger-ui .info")).to_be_visible(timeout=15_000)
        clean(page)
        page.goto(f"{asgi_server}/admin/")
        expect(page.locator("#site-name")).to_be_visible()

        clean(page)
        assert console == [], console
    finally:
        context.close()


def test_a_script_the_policy_does_not_allow_is_blocked(browser: Any, asgi_server: str, engineer: Any) -> None:
    """The policy is enforced, not only sent: an inline script added to a page does not run, and
    the browser reports it (so the test above would see a violation)."""
    context = browser.new_context()
    context.add_init_script(RECORD_VIOLATIONS)
    try:
        page = login(context, asgi_server, "engineer")
        page.goto(f"{asgi_server}/runs/")
        page.evaluate(
            "var s = document.createElement('script'); s.textContent = 'window.__ran = 1'; document.body.appendChild(s)"
        )
        page.wait_for_timeout(200)
        assert page.evaluate("window.__ran") is None
        violations = page.evaluate("window.__csp")
        assert len(violations) == 1 and violations[0].startswith("script-src"), violations
    finally:
        context.close()
