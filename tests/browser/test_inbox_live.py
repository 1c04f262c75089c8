"""The inbox while others work: requests that arrive wait behind a "N new requests — show" bar
instead of moving the rows, and another reviewer's quorum vote shows in the pane, in a real
browser over the live socket, without a page load."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from approvals.models import ApprovalRequest, Queue
from approvals.services import decide, reassign
from tests.support.browser import login
from tests.support.runs import waiting_refund
from tests.support.users import make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]

# Set once the page's live socket is open (an init script: it runs before the page's own).
LIVE_OPEN = "document.addEventListener('htmx:wsOpen', () => { window.__liveOpen = true; });"
# Set on the page once loaded: a full page load would drop it.
MARKER = "window.__inboxMarker"


def _row_ids(page: Any) -> list[str]:
    return list(page.eval_on_selector_all("li.approval", "rows => rows.map(r => r.dataset.id)"))


def _open_inbox(context: Any, base: str, username: str, reading: Any = None) -> tuple[Any, list[str]]:
    """The inbox (with `reading` in the pane), its live socket open, a marker on the window, and
    the page's navigations."""
    context.add_init_script(LIVE_OPEN)
    page = login(context, base, username)
    page.goto(base + "/approvals/" + (f"?selected={reading.id}" if reading else ""))
    page.wait_for_function("() => window.__liveOpen === true")
    if reading is not None:
        expect(page.locator("li.approval.selected")).to_have_attribute("data-id", str(reading.id))
    page.evaluate(MARKER + " = 'kept'")
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)
    return page, navigations


def test_new_requests_wait_behind_a_bar_and_show_on_top_without_a_page_load(
    browser: Any, asgi_server: str, engineer: Any, reviewer: Any
) -> None:
    """While the reviewer reads the second request, two arrive: the rows stay as they were and
    a bar says "2 new requests — show"; clicking it puts them on top of the list, marked new, the
    pane and the selection staying where they were, with no page load. One more arrives: the bar
    counts it for the list as it now is, and `.` shows it on top too."""
    first, second = (waiting_refund(engineer)[1] for _ in range(2))
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page, navigations = _open_inbox(context, asgi_server, "reviewer", reading=second)
        expect(page.locator("#show-new")).to_have_count(0)

        third, fourth = (waiting_refund(engineer)[1] for _ in range(2))
        expect(page.locator("#show-new")).to_have_text(re.compile(r"^\s*2 new requests — show"))
        assert _row_ids(page) == [str(first.id), str(second.id)]
        expect(page.locator("li.approval.selected")).to_have_attribute("data-id", str(second.id))

        page.locator("#show-new").click()
        expect(page.locator("li.approval")).to_have_count(4)
        assert _row_ids(page) == [str(third.id), str(fourth.id), str(first.id), str(second.id)]
        expect(page.locator("li.approval.new")).to_have_count(2)
        expect(page.locator("li.approval.new .new-mark").first).to_have_text("new")
        expect(page.locator("#show-new")).to_have_count(0)
        expect(page.locator("#pane-body")).to_have_attribute("data-approval-id", str(second.id))
        expect(page.locator("li.approval.selected")).to_have_attribute("data-id", str(second.id))

        _, fifth = waiting_refund(engineer)
        expect(page.locator("#show-new")).to_have_text(re.compile(r"^\s*1 new request — show"))
        expect(page.locator("li.approval")).to_have_count(4)
        page.keyboard.press(".")
        expect(page.locator("li.approval")).to_have_count(5)
        assert _row_ids(page) == [str(r.id) for r in (third, fourth, fifth, first, second)]

        # A decision's answer lists the same rows, the new ones still on top.
        page.keyboard.press("a")
        expect(page.locator("#pane-notice")).to_contain_text("Approved")
        expect(page.locator(f"#approval-{second.id}")).to_have_count(0)
        assert _row_ids(page) == [str(r.id) for r in (third, fourth, fifth, first)]
        assert page.evaluate(MARKER) == "kept"
        assert navigations == [], navigations
    finally:
        context.close()


def test_the_list_shown_again_keeps_the_reviewers_selection(
    browser: Any, asgi_server: str, engineer: Any, reviewer: Any
) -> None:
    """The answer to "show" alone (the live socket closed once the bar came, so no push follows
    it) keeps the row the reviewer is on selected."""
    first, second = (waiting_refund(engineer)[1] for _ in range(2))
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page, navigations = _open_inbox(context, asgi_server, "reviewer", reading=second)
        _, third = waiting_refund(engineer)
        expect(page.locator("#show-new")).to_be_visible()
        page.evaluate("document.getElementById('live').remove()")  # htmx closes the socket
        page.locator("#show-new").click()
        expect(page.locator("li.approval")).to_have_count(3)
        assert _row_ids(page) == [str(third.id), str(first.id), str(second.id)]
        page.wait_for_load_state("networkidle")
        expect(page.locator("li.approval.selected")).to_have_attribute("data-id", str(second.id))
        assert navigations == [], navigations
    finally:
        context.close()


def test_the_bar_counts_only_what_the_reviewer_may_see(
    browser: Any, asgi_server: str, engineer: Any, reviewer: Any
) -> None:
    """Payments is its team's queue, legal another team's. Two refunds arrive: the payments
    reviewer's bar counts both, the legal reviewer's none. The second is moved to legal: it leaves
    the first bar's count and is the only one on the legal reviewer's."""
    payments_team, legal_team = Group.objects.create(name="payments-team"), Group.objects.create(name="legal-team")
    Queue.objects.get(name="payments").reviewer_groups.set([payments_team])
    Queue.objects.create(name="legal").reviewer_groups.set([legal_team])
    reviewer.groups.add(payments_team)
    make_user("lawyer", "reviewers", "legal-team")
    mine = browser.new_context(viewport={"width": 1440, "height": 900})
    theirs = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page, _ = _open_inbox(mine, asgi_server, "reviewer")
        other, _ = _open_inbox(theirs, asgi_server, "lawyer")
        waiting_refund(engineer)
        _, moved = waiting_refund(engineer)
        expect(page.locator("#show-new")).to_contain_text("2 new requests")
        reassign(moved.id, reviewer, "legal", "a disputed order")
        expect(page.locator("#show-new")).to_contain_text("1 new request")
        expect(other.locator("#show-new")).to_contain_text("1 new request")
        other.locator("#show-new").click()
        expect(other.locator("li.approval")).to_have_count(1)
        assert _row_ids(other) == [str(moved.id)]
    finally:
        mine.close()
        theirs.close()


def test_another_reviewers_vote_shows_in_my_pane_then_the_one_that_settles_it(
    browser: Any, asgi_server: str, engineer: Any, reviewer: Any
) -> None:
    """Payments needs two approvals. The reviewer has the refund in the pane, its amount shown as
    "250.00 USD": when B approves, the pane says "1 of 2 approvals: b-reviewer" with the forms
    still usable; when C approves, it says the request was approved by C with both approvals, the
    forms are disabled and the next request is offered; j opens it. No page load."""
    Queue.objects.filter(name="payments").update(required_approvals=2)
    first, second = (waiting_refund(engineer)[1] for _ in range(2))
    b, c = make_user("b-reviewer", "reviewers"), make_user("c-reviewer", "reviewers")
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page, navigations = _open_inbox(context, asgi_server, "reviewer")
        expect(page.locator("#pane-body")).to_have_attribute("data-approval-id", str(first.id))
        expect(page.locator("#proposed-args dt", has_text="amount").locator("+ dd")).to_have_text("250.00 USD")
        expect(page.locator("#pane-quorum")).to_contain_text("0 of 2 approvals")

        decide(first.id, b, "approve")
        expect(page.locator("#pane-quorum")).to_contain_text("1 of 2 approvals: b-reviewer.")
        expect(page.locator("#approve-button")).to_be_enabled()

        decide(first.id, c, "approve")
        settled = page.locator("#pane-settled")
        expect(settled).to_contain_text("Approved by c-reviewer")
        expect(settled).to_contain_text("Approvals: b-reviewer, c-reviewer.")
        expect(page.locator("#pane-quorum")).to_have_count(0)
        expect(page.locator("#approve-button")).to_be_disabled()
        expect(page.locator("#pane-next")).to_have_attribute("data-id", str(second.id))
        page.keyboard.press("j")
        expect(page.locator("#pane-body")).to_have_attribute("data-approval-id", str(second.id))
        expect(page.locator("#approve-button")).to_be_enabled()
        assert page.evaluate(MARKER) == "kept"
        assert navigations == [], navigations
    finally:
        context.close()
    assert ApprovalRequest.objects.get(id=first.id).status == "approved"
