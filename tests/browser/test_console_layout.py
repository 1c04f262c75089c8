"""The console at real volume, on a laptop and on a phone: the runs list shows runs in the first
screenful, the navigation collapses, nothing scrolls sideways, times show in local time."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.browser import login
from tests.support.runs import queued_refund, waiting_refund

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
SHOTS = "/tmp/polish-shots"
# How many lines an element's text takes: the distinct tops of its text's boxes.
LINES_OF_TEXT = """el => {
  const range = document.createRange(); range.selectNodeContents(el);
  return Math.round(range.getBoundingClientRect().height / parseFloat(getComputedStyle(el).lineHeight));
}"""
# What sticks out past the right edge, to say so when a page scrolls sideways.
WIDE = """() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth + 1)
  .slice(0, 8).map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right))"""


def _fits(page: Any) -> None:
    width = int(page.evaluate("document.scrollingElement.scrollWidth"))
    assert width <= int(page.evaluate("innerWidth")), page.evaluate(WIDE)


@pytest.mark.parametrize("size_name", ["desktop", "phone"])
def test_runs_list_shows_the_first_run_in_the_first_screenful(
    browser: Any, asgi_server: str, engineer: Any, size_name: str
) -> None:
    viewport = DESKTOP if size_name == "desktop" else PHONE
    for _ in range(59):
        queued_refund(engineer)
    run, _request = waiting_refund(engineer)
    context = browser.new_context(viewport=viewport)
    try:
        page = login(context, asgi_server, "engineer")
        page.goto(asgi_server + "/runs/")
        expect(page.locator("#runs tbody tr")).to_have_count(50)
        first_row = page.locator("#runs tbody tr").first
        box = first_row.bounding_box()
        assert box is not None and box["y"] < viewport["height"], box
        # The run id links to the run; the input preview shows what the run was asked.
        expect(page.locator(f"#runs a.run-id[href='/runs/{run.id}/']")).to_have_count(1)
        expect(first_row.locator("td.input-preview")).to_contain_text("order_id")
        # A column header stays on one line.
        headers = page.locator("#runs thead th")
        for index in range(headers.count()):
            assert headers.nth(index).evaluate(LINES_OF_TEXT) == 1, headers.nth(index).text_content()
        expect(page.locator("#next-page")).to_be_visible()
        page.click("#next-page")
        expect(page.locator("#runs tbody tr")).to_have_count(10)
        expect(page.locator("#newest-page")).to_be_visible()
        if size_name == "phone":
            _fits(page)
        page.goto(asgi_server + "/runs/")
        # Local time with the UTC time on hover.
        when = page.locator("#runs time").first
        title = when.get_attribute("title") or ""
        assert title.endswith("UTC"), title
        assert (when.text_content() or "").strip() and "UTC" not in (when.text_content() or "")
        for theme in ("light", "dark"):
            page.evaluate(f"document.documentElement.dataset.theme = '{theme}'")
            page.screenshot(path=f"{SHOTS}/runs-{size_name}-{theme}.png")
            page.goto(asgi_server + f"/runs/{run.id}/")
            # The steps' column headers ("Step" wrapped to "Ste/p") stay on one line.
            # (On a phone the waterfall hides some columns: only the headers shown are measured.)
            heads = page.locator(".waterfall .span-head > span")
            shown = [heads.nth(i) for i in range(heads.count()) if heads.nth(i).is_visible()]
            assert shown
            for head in shown:
                assert head.evaluate(LINES_OF_TEXT) == 1, head.text_content()
            page.evaluate(f"document.documentElement.dataset.theme = '{theme}'")
            page.screenshot(path=f"{SHOTS}/run-{size_name}-{theme}.png", full_page=True)
            page.goto(asgi_server + "/runs/")
    finally:
        context.close()


def test_phone_nav_collapses_and_pages_do_not_scroll_sideways(
    browser: Any, asgi_server: str, engineer: Any, reviewer: Any
) -> None:
    for _ in range(3):
        waiting_refund(engineer)
    context = browser.new_context(viewport=PHONE)
    try:
        page = login(context, asgi_server, "reviewer")
        page.goto(asgi_server + "/approvals/")
        expect(page.locator("li.approval")).to_have_count(3)
        _fits(page)
        page.screenshot(path=f"{SHOTS}/inbox-phone.png")
        log_out = page.locator("header").get_by_role("button", name="Log out")
        expect(log_out).not_to_be_visible()
        page.locator("header details.nav-menu > summary").click()
        expect(log_out).to_be_visible()
        expect(page.locator("header").get_by_role("link", name="API docs")).to_be_visible()
        box = log_out.bounding_box()
        assert box is not None and box["x"] + box["width"] <= PHONE["width"], box
        page.screenshot(path=f"{SHOTS}/nav-open-phone.png")
        page.goto(asgi_server + "/runs/")
        _fits(page)
        page.goto(asgi_server + "/")  # the dashboard's per-agent and per-model tables
        expect(page.locator("#per-agent")).to_be_visible()
        _fits(page)
    finally:
        context.close()


def test_favicon_is_served_and_linked(browser: Any, asgi_server: str, engineer: Any) -> None:
    context = browser.new_context()
    try:
        page = login(context, asgi_server, "engineer")
        # At desktop width the links sit in the bar, no menu to open.
        expect(page.locator("header").get_by_role("button", name="Log out")).to_be_visible()
        expect(page.locator("header details.nav-menu > summary")).not_to_be_visible()
        href = page.locator("link[rel=icon]").get_attribute("href")
        assert href
        response = page.request.get(asgi_server + href)
        assert response.status == 200
    finally:
        context.close()
