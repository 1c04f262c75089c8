"""Prompt versions in the browser: an admin edits the refund agent's system prompt (the variable
list follows the typing), reads the diff and asks to move production; another admin approves the
move on the request page; the next refund run uses the new version and its answer carries the
new sign-off line.

Screenshots of the prompt page, the editor and the diff go to $STEWARD_SCREENSHOT_DIR (else the
test's tmp dir) for a look at the layout.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from agents.engine.models import Run
from agents.prompts import sync_prompts
from agents.prompts.models import PromptLabel, PromptVersion
from tests.support.browser import login
from tests.support.users import make_user
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]

OLD_SIGN_OFF = "Sign-off: {shop_name} customer care"
NEW_LINES = "Always thank the customer for their patience.\nSign-off: {shop_name} refunds desk, with thanks"
VIEWPORT = {"width": 1400, "height": 950}


def test_edit_diff_promote_approve_and_the_next_run_uses_the_new_version(
    browser: Any, asgi_server: str, celery_worker: Any, admin_user: Any, tmp_path: Path
) -> None:
    shots = Path(os.environ.get("STEWARD_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    sync_prompts()  # the demo prompts, in case an earlier test flushed them
    before = PromptVersion.objects.filter(prompt__name="refund_system").order_by("-number").first()
    assert before is not None
    new_number = before.number + 1
    make_user("admin_b", "admins")
    context_a, context_b = browser.new_context(viewport=VIEWPORT), browser.new_context(viewport=VIEWPORT)
    try:
        # Admin A edits the system message: one line added, the sign-off changed.
        page = login(context_a, asgi_server, "admin")
        page.goto(f"{asgi_server}/prompts/refund_system/")
        page.click("#edit-latest")
        page.wait_for_url("**/prompts/refund_system/edit?from=*")
        system = page.locator("#message-rows .message-row").first.locator("textarea")
        original = system.input_value()
        assert OLD_SIGN_OFF in original
        edited = original.replace(OLD_SIGN_OFF, NEW_LINES)

        # The variable list follows the typing (the live check), before anything is saved.
        system.fill(edited + " {tone}")
        expect(page.locator("#var-tone")).to_be_visible(timeout=10_000)
        expect(page.locator("#var-tone .label-tag.new")).to_have_text("new")
        system.fill(edited)
        expect(page.locator("#var-tone")).to_have_count(0, timeout=10_000)
        expect(page.locator("#no-problems")).to_be_visible()
        expect(page.locator("#var-shop_name")).to_be_visible()
        page.fill("#commit-message", "Thank the customer; sign off as the refunds desk")
        page.screenshot(path=str(shots / "prompt-editor.png"), full_page=True)
        page.click("#save-version")
        page.wait_for_url("**/prompts/refund_system/")
        expect(page.locator("main .flash")).to_contain_text(f"Saved version {new_number} of refund_system")
        assert PromptVersion.objects.get(prompt__name="refund_system", number=new_number).template[0]["content"] == edited

        # The diff: the added line on the right only, the changed sign-off on both sides.
        page.click("#saved-diff-link")
        page.wait_for_url("**/prompts/refund_system/diff?*")
        expect(page.locator("table.prompt-diff tr.insert td.right")).to_contain_text(["Always thank the customer"])
        expect(page.locator("table.prompt-diff tr.replace td.right mark").first).to_be_visible()
        expect(page.locator("table.prompt-diff")).to_contain_text("refunds desk, with thanks")
        page.screenshot(path=str(shots / "prompt-diff.png"), full_page=True)

        # Moving production is reviewed: the page says it waits, with a link to the request.
        page.goto(f"{asgi_server}/prompts/refund_system/")
        page.locator(f"#version-{new_number} button.point-production").click()
        page.wait_for_url("**/prompts/refund_system/")
        expect(page.locator("main .flash")).to_contain_text("Waiting for review by another admin")
        expect(page.locator("#pending-promotion")).to_be_visible()
        request_href = page.locator("#promotion-request-link").get_attribute("href")
        assert request_href
        assert PromptLabel.objects.get(prompt__name="refund_system", name="production").version.number == before.number
        page.screenshot(path=str(shots / "prompt-page-pending.png"), full_page=True)

        # Admin B reads the change on the request page and approves it.
        review = login(context_b, asgi_server, "admin_b")
        review.goto(asgi_server + request_href)
        expect(review.locator("#promotion-args")).to_contain_text(f"v{before.number} → v{new_number}")
        expect(review.locator("#promotion-diff tr.insert")).to_contain_text(["Always thank the customer"])
        review.screenshot(path=str(shots / "promotion-request.png"), full_page=True)
        review.click("#approve-button")
        # Nothing else waits in the queue: the reviewer is back in the inbox; the request reads approved.
        expect(review.get_by_text("Nothing else is waiting for you in")).to_be_visible()
        review.goto(asgi_server + request_href)
        expect(review.locator("#approval-status")).to_have_text("approved")

        # Production now points at the new version; its history names both admins.
        page.reload()
        expect(page.locator("#label-production .label-version")).to_have_text(f"v{new_number}")
        expect(page.locator("#pending-promotion")).to_have_count(0)
        history = page.locator("#history-production tbody tr").first
        expect(history).to_contain_text(f"v{before.number} → v{new_number}")
        expect(history).to_contain_text("admin_b")
        page.screenshot(path=str(shots / "prompt-page.png"), full_page=True)

        # A new refund run (started from the runs page, run by the worker) uses the new version.
        order = f"PR-{uuid.uuid4().hex[:6]}"
        page.goto(f"{asgi_server}/agents/refund/start")
        page.fill("#id_order_id", order)
        page.fill("#id_amount", "40")
        page.fill("#id_reason", "arrived late")
        page.click("main button[type=submit]")
        page.wait_for_url("**/runs/*/")
        expect(page.locator("#run-status")).to_have_text("succeeded", timeout=30_000)
        run = wait_for(lambda: Run.objects.filter(input__order_id=order, status=Run.Status.SUCCEEDED).first())
        assert run.prompt_versions["refund_system"]["version"] == new_number
        assert run.prompt_versions["refund_system"]["label"] == "production"
        assert run.output["answer"].endswith("Steward Shop refunds desk, with thanks")
        expect(page.locator("#run-output")).to_contain_text("refunds desk, with thanks")

        # The playground renders the new version and the refund agent's offline script answers.
        page.goto(f"{asgi_server}/prompts/refund_system/playground?version={new_number}")
        page.fill("input[name=var-shop_name]", "Steward Shop")
        page.click("#run-playground")
        expect(page.locator("#rendered")).to_contain_text("Always thank the customer for their patience.")
        expect(page.locator("#reply")).to_contain_text("lookup_order")
        expect(page.locator("#reply")).to_contain_text("offline scripted model")
        page.screenshot(path=str(shots / "prompt-playground.png"), full_page=True)
    finally:
        context_a.close()
        context_b.close()


def test_new_text_prompt_with_the_kind_switch_and_row_buttons(
    browser: Any, asgi_server: str, admin_user: Any, tmp_path: Path
) -> None:
    """The new-prompt form: switching to a text prompt shows one textarea; its variables are
    found as the admin types; creating it opens its page. Message rows can be added and removed."""
    shots = Path(os.environ.get("STEWARD_SCREENSHOT_DIR") or tmp_path)
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = login(context, asgi_server, "admin")
        page.goto(f"{asgi_server}/prompts/")
        page.click("#new-prompt")
        page.wait_for_url("**/prompts/new")
        # Chat rows: add one (client side, no reload), give it text, remove it again.
        expect(page.locator("#message-rows .message-row")).to_have_count(1)
        page.click("#add-message")
        expect(page.locator("#message-rows .message-row")).to_have_count(2)
        second = page.locator("#message-rows .message-row").nth(1)
        expect(second.locator(".row-number")).to_have_text("Message 2")
        second.locator("textarea").fill("Hello {visitor")
        expect(second.locator(".row-errors")).to_contain_text("template syntax", timeout=10_000)
        second.locator("[data-remove]").click()
        expect(page.locator("#message-rows .message-row")).to_have_count(1)
        # A text prompt.
        page.select_option("#prompt-kind", "text")
        expect(page.locator(".chat-editor")).to_be_hidden()
        page.fill("input[name=name]", "summary_text")
        page.fill("input[name=description]", "Summarises a document")
        page.fill("textarea[name=text]", "Summarise {document} in {words} words.")
        expect(page.locator("#var-document")).to_be_visible(timeout=10_000)
        page.select_option("#var-words select", "integer")
        page.fill("#commit-message", "first draft")
        page.screenshot(path=str(shots / "prompt-new.png"), full_page=True)
        page.click("#save-version")
        page.wait_for_url("**/prompts/summary_text/")
        version = PromptVersion.objects.get(prompt__name="summary_text", number=1)
        assert version.kind == "text" and version.template == "Summarise {document} in {words} words."
        assert version.variables == {"document": "string", "words": "integer"}
        expect(page.locator("#label-production .label-version")).to_have_text("v1")
    finally:
        context.close()
