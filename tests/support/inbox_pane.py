"""Runs paused at an interrupt by the real worker, answered in the inbox's pane of a real browser
(tests/browser/test_inbox_shapes.py, tests/browser/test_answer_form.py)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from agents.engine.models import Run
from agents.engine.services import start_run
from approvals.models import ApprovalRequest
from tests.support.waiting import wait_for


def paused(agent: str, data: dict[str, Any], user: Any, count: int = 1) -> tuple[Run, list[ApprovalRequest]]:
    """A run of `agent` that the worker executed to its interrupt(s), and its pending requests."""
    run = start_run(agent, data, user)

    def pending() -> list[ApprovalRequest] | None:
        found = list(ApprovalRequest.objects.filter(run=run, status="pending").order_by("created_at", "id"))
        return found if len(found) == count else None

    return run, wait_for(pending)


def finished(run: Run) -> dict[str, Any]:
    """The run's output once the worker resumed it to the end."""

    def done() -> Run | None:
        found = Run.objects.get(id=run.id)
        assert found.status != "failed", found.error
        return found if found.status == "succeeded" else None

    output: dict[str, Any] = wait_for(done).output
    return output


def open_in_pane(page: Any, base: str, request: ApprovalRequest) -> None:
    """The inbox with `request` in its pane; a marker on the window tells a later page load."""
    page.goto(f"{base}/approvals/?selected={request.id}")
    expect(page.locator("#pane-body")).to_have_attribute("data-approval-id", str(request.id))
    page.evaluate("window.__stayed = true")


def answered(page: Any, request: ApprovalRequest, status: str) -> None:
    """The pane moved on (no page load) and the request is settled as `status`."""
    expect(page.locator("#pane-notice")).to_be_visible()
    assert page.evaluate("window.__stayed") is True
    assert ApprovalRequest.objects.get(id=request.id).status == status
