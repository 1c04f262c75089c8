"""An engineer starts a refund over 100 from the page; a reviewer approves it from the page in
another browser; the engineer's open run page reaches `succeeded` without a reload."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from agents.demo.models import Refund
from tests.support.browser import login

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]


def test_reviewer_approval_reaches_engineer_page_live(
    browser: Any, asgi_server: str, celery_worker: Any, engineer: Any, reviewer: Any
) -> None:
    """Start → waiting (live), approve in a second context → succeeded (live, same document)."""
    order = f"B-{uuid.uuid4().hex[:6]}"
    engineer_context, reviewer_context = browser.new_context(), browser.new_context()
    try:
        page = login(engineer_context, asgi_server, "engineer")
        page.goto(asgi_server + "/agents/refund/start")
        page.fill("#id_order_id", order)
        page.fill("#id_amount", "250")
        page.fill("#id_reason", "arrived broken")
        page.click("main button[type=submit]")
        page.wait_for_url("**/runs/*/")
        # Marks this document: a reload would lose it.
        page.evaluate("window.__sameDocument = true")
        expect(page.locator("#run-status")).to_have_text("waiting", timeout=20_000)
        expect(page.locator(".span-row.gate.paused")).to_have_count(1)
        approval_href = page.locator(".waiting a").get_attribute("href")
        assert approval_href

        review = login(reviewer_context, asgi_server, "reviewer")
        expect(review.locator("#nav-pending")).not_to_have_text("0")
        review.goto(asgi_server + approval_href)
        expect(review.locator("#proposed-args")).to_contain_text(order)
        review.click("#approve-button")
        # Nothing else waits: the reviewer is back in the inbox, which says what happened.
        review.wait_for_url("**/approvals/")
        expect(review.locator(".flash").first).to_contain_text("Approved")
        review.goto(asgi_server + approval_href)
        expect(review.locator("#approval-status")).to_have_text("approved")
        expect(review.locator("#decided")).to_contain_text("reviewer")

        expect(page.locator("#run-status")).to_have_text("succeeded", timeout=20_000)
        assert page.evaluate("window.__sameDocument") is True
        expect(page.locator("#run-output")).to_contain_text(f"refunded on order {order}")
        expect(page.locator(".span-row.gate.ok")).to_have_count(1)
        assert Refund.objects.filter(order_id=order).count() == 1
    finally:
        engineer_context.close()
        reviewer_context.close()


def test_pending_list_loses_a_decided_request_live(
    browser: Any, asgi_server: str, engineer: Any, reviewer: Any, admin_user: Any
) -> None:
    """A reviewer's open approvals list drops a request another reviewer decided, without a reload."""
    from agents.engine import runtime
    from agents.engine.services import start_run
    from approvals.models import ApprovalRequest
    from approvals.services import decide

    run = start_run("refund", {"order_id": f"L-{uuid.uuid4().hex[:6]}", "amount": 300, "reason": "x"}, engineer)
    assert runtime.execute(run.id) == "waiting"
    request = ApprovalRequest.objects.get(run=run)
    context = browser.new_context()
    try:
        page = login(context, asgi_server, "reviewer")
        page.goto(asgi_server + "/approvals/")
        row = page.locator(f"#approval-{request.id}")
        expect(row).to_have_count(1)
        page.evaluate("window.__sameDocument = true")
        decide(request.id, admin_user, "reject", comment="not today")
        expect(row).to_have_count(0, timeout=15_000)
        assert page.evaluate("window.__sameDocument") is True
    finally:
        context.close()
