"""The page behind an emailed one-time approve/reject link.

GET only shows what the link would do (mail scanners and link previews open links: a GET must
never decide). POST decides through `approvals.services.decide_with_link`, which uses the link
up and decides in one transaction, so a failed decision leaves the link usable and a second POST
finds it used.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from approvals.action_links import InvalidLink, LinkAlreadyUsed, link_from_token
from approvals.models import ActionLink, ApprovalRequest
from approvals.services import decide_with_link
from approvals.shown_args import shown
from console.kernel.errors import Invalid, StewardError
from console.kernel.pages import error_text, pretty

__all__ = ["confirm_link"]

TEMPLATE = "approvals/confirm_link.html"


def _message(request: HttpRequest, status: int, heading: str, text: str, link: ActionLink | None = None) -> HttpResponse:
    """A page that explains why nothing happened (or what did), with the matching status code."""
    context = {"heading": heading, "message": text, "approval": link.request if link else None}
    return render(request, TEMPLATE, context, status=status)


def _already_used(request: HttpRequest, link: ActionLink) -> HttpResponse:
    return _message(request, 410, "Link already used", "This link was already used: each link works once.", link)


def _usable_link(request: HttpRequest, token: str) -> ActionLink | HttpResponse:
    """The link if the logged-in user may use it now; otherwise the page that says why not."""
    try:
        link = link_from_token(token)
    except signing.SignatureExpired:
        return _message(request, 410, "Link expired", "This link has expired. Open the request in Steward instead.")
    except InvalidLink:
        return _message(request, 400, "Invalid link", "This link is not valid. Check that it was copied whole.")
    if link is None:
        return _message(request, 410, "Link no longer valid", "This link no longer exists.")
    if link.user_id != request.user.pk:
        # Links are personal: a forwarded link must not let someone else decide as its owner.
        return _message(request, 403, "Not your link", "This link was sent to another reviewer.")
    if link.used_at is not None:
        return _already_used(request, link)
    if link.expires_at <= timezone.now():
        return _message(request, 410, "Link expired", "This link has expired. Open the request in Steward instead.", link)
    approval = link.request
    if approval.status != ApprovalRequest.Status.PENDING:
        who = approval.decided_by.get_username() if approval.decided_by else "the system"
        return _message(
            request, 410, "Already decided", f"This request is already {approval.status} (by {who}): nothing to do.", link
        )
    return link


def _recorded_text(approval: ApprovalRequest) -> str:
    """What the page says once the link's decision is recorded."""
    if approval.status == ApprovalRequest.Status.PENDING:
        return (
            f"Your approval is recorded: the request has {approval.approvals} of the "
            f"{approval.queue.required_approvals} approvals it needs."
        )
    return f"{'Approved' if approval.status == ApprovalRequest.Status.APPROVED else 'Rejected'}: the run resumes."


def _confirm_page(request: HttpRequest, link: ActionLink, status: int = 200, error: str = "", **form: Any) -> HttpResponse:
    approval = link.request
    return render(
        request,
        TEMPLATE,
        {
            "link": link,
            "approval": approval,
            "args": pretty(shown(approval.proposed_args)),
            "decision": link.decision,
            "reason_codes": (approval.queue.reason_codes or []) if link.decision == "reject" else [],
            "error": error,
            "form": form,
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def confirm_link(request: HttpRequest, token: str) -> HttpResponse:
    """Show the confirmation page of a one-time link (GET), or decide with it (POST).

    Args:
        request: the HTTP request of the logged-in owner of the link.
        token: the signed link token from the URL.

    Returns:
        The confirmation page (200), the outcome (200), or a page that says why the link cannot
        be used: 400 invalid, 403 someone else's, 410 expired, used or already decided, or the
        decision's own error (403, 409, 422).
    """
    found = _usable_link(request, token)
    if isinstance(found, HttpResponse):
        return found
    link = found
    if request.method != "POST":
        return _confirm_page(request, link)

    rejecting = link.decision == "reject"
    comment = request.POST.get("comment", "").strip() if rejecting else ""
    reason_code = request.POST.get("reason_code", "").strip() if rejecting else ""
    try:
        approval = decide_with_link(link, request.user, comment=comment, reason_code=reason_code)
    except LinkAlreadyUsed:
        return _already_used(request, link)
    except Invalid as exc:
        # The link stays usable (the transaction rolled back): correct the form and confirm again.
        return _confirm_page(request, link, 422, error_text(exc.detail), comment=comment, reason_code=reason_code)
    except StewardError as exc:
        return _message(request, exc.status, "Not recorded", error_text(exc.detail), link)
    return _message(request, 200, "Decision recorded", _recorded_text(approval), link)
