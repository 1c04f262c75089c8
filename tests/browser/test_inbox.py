"""The reviewers' inbox in a real browser: keyboard-only triage, and editing arguments."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from agents.demo.models import Refund
from approvals.models import ApprovalRequest
from tests.support.browser import login
from tests.support.runs import waiting_refund

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]


def test_reviewer_works_through_a_queue_with_the_keyboard_only(
    browser: Any, asgi_server: str, engineer: Any, reviewer: Any
) -> None:
    """j, Enter, a, n, r (+ reason, comment, Enter), n, a, n: three requests decided without the mouse."""
    requests = [waiting_refund(engineer)[1] for _ in range(3)]
    context = browser.new_context()
    try:
        page = login(context, asgi_server, "reviewer")
        page.goto(asgi_server + "/approvals/")
        expect(page.locator("tr.approval")).to_have_count(3)
        page.keyboard.press("?")
        expect(page.locator("#shortcuts")).to_be_visible()
        page.keyboard.press("?")
        expect(page.locator("#shortcuts")).not_to_be_visible()

        page.keyboard.press("j")
        expect(page.locator("tr.approval.selected")).to_have_attribute("data-id", str(requests[0].id))
        page.keyboard.press("Enter")
        page.wait_for_url(f"**/approvals/{requests[0].id}/")
        expect(page.locator("#held")).to_contain_text("You hold this request")
        page.keyboard.press("a")
        expect(page.locator("#approval-status")).to_have_text("approved")

        page.keyboard.press("n")
        page.wait_for_url(f"**/approvals/{requests[1].id}/")
        page.keyboard.press("r")
        expect(page.locator("#reject-reason")).to_be_focused()
        page.keyboard.press("ArrowDown")  # from the first reason code to the second
        page.keyboard.press("Tab")
        expect(page.locator("#reject-comment")).to_be_focused()
        page.keyboard.type("outside the return window")
        page.keyboard.press("a")  # while typing, `a` is a letter, not "approve"
        page.keyboard.press("Enter")
        expect(page.locator("#approval-status")).to_have_text("rejected")

        page.keyboard.press("n")
        page.wait_for_url(f"**/approvals/{requests[2].id}/")
        page.keyboard.press("a")
        expect(page.locator("#approval-status")).to_have_text("approved")
        page.keyboard.press("n")
        expect(page.locator(".flash")).to_contain_text("Nothing is waiting for you")
    finally:
        context.close()
    statuses = [ApprovalRequest.objects.get(id=r.id).status for r in requests]
    assert statuses == ["approved", "rejected", "approved"]
    rejected = ApprovalRequest.objects.get(id=requests[1].id).decisions.get()
    assert rejected.comment == "outside the return windowa" and rejected.reason_code == "incorrect"


def test_edit_refused_next_to_the_field_then_the_tool_runs_with_the_edit(
    browser: Any, asgi_server: str, celery_worker: Any, engineer: Any, reviewer: Any
) -> None:
    """An invalid amount is refused next to its field with the typed value kept; a valid one is
    shown as a diff, approved, and the refund is written with the edited amount, live on the page."""
    run, request = waiting_refund(engineer, amount=400)
    context = browser.new_context()
    try:
        page = login(context, asgi_server, "reviewer")
        page.goto(f"{asgi_server}/approvals/{request.id}/")
        page.keyboard.press("e")
        expect(page.locator("#arg_order_id")).to_be_focused()
        page.fill("#arg_amount", "-5")
        page.click("#edit-panel button[type=submit]")
        expect(page.locator("#err_amount")).to_contain_text("-5")
        expect(page.locator("#arg_amount")).to_have_value("-5")
        assert ApprovalRequest.objects.get(id=request.id).status == "pending"

        page.fill("#arg_amount", "120")
        page.click("#edit-panel button[type=submit]")
        expect(page.locator("#edit-diff")).to_contain_text("400.0")
        expect(page.locator("#edit-diff")).to_contain_text("120.0")
        page.click("#confirm-edit")
        expect(page.locator("#approval-status")).to_have_text("approved")
        expect(page.locator("#outcome-result")).to_contain_text("120", timeout=20_000)
        expect(page.locator("#outcome-run-status")).to_have_text("succeeded", timeout=20_000)
    finally:
        context.close()
    assert [str(r.amount) for r in Refund.objects.filter(order_id=request.proposed_args["order_id"])] == ["120.00"]
