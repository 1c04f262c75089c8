"""Approval pages: the pending list, a request's page, and its decision form."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from approvals.models import ApprovalRequest
from approvals.services import decide
from console.errors import StewardError
from console.pages import error_text, pretty, require
from console.roles import REVIEWERS, has_role


def pending_for(user: Any) -> list[ApprovalRequest]:
    return list(
        ApprovalRequest.objects.pending()
        .visible_to(user)
        .select_related("queue", "run__agent", "requested_by")
        .order_by("created_at", "id")[:200]
    )


@login_required
def approval_list(request: HttpRequest) -> HttpResponse:
    require(has_role(request.user, REVIEWERS))
    return render(request, "approvals/approval_list.html", {"requests": pending_for(request.user)})


def _visible(request: HttpRequest, approval_id: uuid.UUID) -> ApprovalRequest:
    found = (
        ApprovalRequest.objects.visible_to(request.user)
        .select_related("queue", "run__agent", "requested_by", "decided_by")
        .filter(id=approval_id)
        .first()
    )
    if found is None:
        raise Http404("approval request not found")
    return found


@login_required
def approval_detail(request: HttpRequest, approval_id: uuid.UUID) -> HttpResponse:
    require(has_role(request.user, REVIEWERS))
    approval = _visible(request, approval_id)
    return render(
        request,
        "approvals/approval_detail.html",
        {
            "approval": approval,
            "args": pretty(approval.proposed_args),
            "approved_args": pretty(approval.approved_args),
            "run_input": pretty(approval.run.input) if approval.run else "",
            "decisions": approval.decisions.select_related("user"),
            "is_requester": approval.requested_by_id == request.user.pk,
        },
    )


@login_required
@require_POST
def approval_decide(request: HttpRequest, approval_id: uuid.UUID) -> HttpResponse:
    require(has_role(request.user, REVIEWERS))
    approval = _visible(request, approval_id)
    decision = request.POST.get("decision", "")
    try:
        decided = decide(
            approval.id,
            request.user,
            decision,
            comment=request.POST.get("comment", "").strip(),
            reason_code=request.POST.get("reason_code", "") if decision == "reject" else "",
        )
        if decided.status == ApprovalRequest.Status.PENDING:
            messages.success(request, f"Approval recorded: {decided.approvals} of {decided.queue.required_approvals}.")
        else:
            messages.success(request, f"{decided.status.capitalize()}: the run resumes.")
    except StewardError as exc:
        messages.error(request, f"Not recorded: {error_text(exc.detail)}")
    return redirect("approval_detail", approval_id=approval.id)
