"""The reviewers' pages: the inbox, a request's decision page, and the actions on it."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from agents.engine.models import Agent
from approvals import inbox
from approvals.decision_forms import DecisionForm
from approvals.models import ApprovalRequest, Queue
from approvals.services import (
    args_diff,
    bulk_decide,
    claim,
    decide,
    next_request,
    reassign,
    release,
)
from approvals.shown_args import shown
from console.kernel.errors import Invalid, StewardError
from console.kernel.pages import error_text, pretty, require
from console.kernel.roles import REVIEWERS, has_role


def _reviewer(request: HttpRequest) -> None:
    require(has_role(request.user, REVIEWERS))


@login_required
def approval_list(request: HttpRequest) -> HttpResponse:
    _reviewer(request)
    filters = inbox.InboxFilters.from_query(request.GET)
    for problem in filters.errors:
        messages.error(request, problem)
    return render(
        request,
        "approvals/approval_list.html",
        {
            "requests": inbox.filtered_inbox(request.user, filters),
            "filters": filters,
            "live_query": filters.as_query(),
            "queues": inbox.my_queues(request.user),
            "agents": Agent.objects.filter(is_registered=True).values_list("key", flat=True),
            "reason_codes": sorted({c for q in inbox.my_queues(request.user) for c in (q.reason_codes or [])}),
            "bulk_results": request.session.pop("bulk_results", None),
        },
    )


def _visible(request: HttpRequest, approval_id: uuid.UUID) -> ApprovalRequest:
    found = inbox.visible_request(request.user, approval_id)
    if found is None:
        raise Http404("approval request not found")
    return found


def _detail_context(request: HttpRequest, approval: ApprovalRequest, **extra: Any) -> dict[str, Any]:
    proposed = shown(approval.proposed_args)
    values = extra.pop("edit_values", None) or proposed or {}
    edit_errors = extra.pop("edit_errors", {})
    return {
        **inbox.outcome_context(approval),
        "args_items": list((proposed or {}).items()) if isinstance(proposed, dict) else [],
        "args": pretty(proposed),
        "run_input": pretty(approval.run.input) if approval.run else "",
        "conversation": inbox.conversation_of(approval),
        "history": inbox.history_of(approval),
        "decisions": approval.decisions.select_related("user"),
        "is_requester": approval.requested_by_id == request.user.pk,
        "held_by_other": approval.held_by_other(request.user),
        "edit_fields": inbox.edit_fields(approval.args_schema or {}, values, edit_errors),
        "edit_undeclared": inbox.undeclared_errors(approval.args_schema or {}, edit_errors),
        "queues": Queue.objects.exclude(id=approval.queue_id).order_by("name"),
        "typed": {},
        **inbox.shape_context(approval),
        **extra,
    }


@login_required
def approval_detail(request: HttpRequest, approval_id: uuid.UUID) -> HttpResponse:
    """Opening a pending request claims it, so other reviewers see who is on it."""
    _reviewer(request)
    approval = _visible(request, approval_id)
    if approval.status == ApprovalRequest.Status.PENDING and not approval.held_by_other(request.user):
        try:
            claim(approval.id, request.user)
            approval = _visible(request, approval_id)
        except StewardError:
            pass  # may not decide here (requester, excluded group): the page says why
    return render(request, "approvals/approval_detail.html", _detail_context(request, approval))


def _stale(request: HttpRequest, approval: ApprovalRequest, exc: StewardError, typed: dict[str, Any], **extra: Any) -> HttpResponse:
    """A decision that came too late or was refused: say what happened, keep what was typed."""
    approval.refresh_from_db()
    approval = _visible(request, approval.id)
    context = _detail_context(request, approval, **extra)
    context["typed"] = typed
    context["problem"] = error_text(exc.detail)
    return render(request, "approvals/approval_detail.html", context, status=exc.status)


@login_required
@require_POST
def approval_decide(request: HttpRequest, approval_id: uuid.UUID) -> HttpResponse:
    _reviewer(request)
    approval = _visible(request, approval_id)
    form = DecisionForm.from_post(request.POST, approval)
    if form.is_edit:
        refused = form.read_args(approval, request.POST)
        if refused is not None:
            return _stale(request, approval, refused, form.typed, **form.edit_context())
        if request.POST.get("confirm") != "yes":
            # Show the diff against the proposal before anything is approved.
            return render(
                request,
                "approvals/approval_edit_preview.html",
                {
                    "approval": approval,
                    "diff": args_diff(shown(approval.proposed_args), shown(form.args)),
                    "post": request.POST,
                    "comment": form.comment,
                },
            )
    try:
        decided = decide(
            approval.id, request.user, form.decision, args=form.args, comment=form.comment, reason_code=form.reason_code,
            value=form.value, actions=form.actions,
        )
    except Invalid as exc:
        form.take_errors(exc)
        return _stale(request, approval, exc, form.typed, **form.edit_context())
    except StewardError as exc:
        return _stale(request, approval, exc, form.typed)
    if decided.status == ApprovalRequest.Status.PENDING:
        messages.success(request, f"Approval recorded: {decided.approvals} of {decided.queue.required_approvals}.")
    else:
        messages.success(request, f"{decided.status.capitalize()}: the run resumes.")
    return redirect("approval_detail", approval_id=approval.id)


@login_required
@require_POST
def approval_release(request: HttpRequest, approval_id: uuid.UUID) -> HttpResponse:
    _reviewer(request)
    try:
        release(approval_id, request.user)
        messages.success(request, "Released: others may take it.")
    except StewardError as exc:
        messages.error(request, f"Not released: {error_text(exc.detail)}")
    return redirect("approval_list")


@login_required
@require_POST
def approval_reassign(request: HttpRequest, approval_id: uuid.UUID) -> HttpResponse:
    _reviewer(request)
    approval = _visible(request, approval_id)
    try:
        reassign(approval.id, request.user, request.POST.get("queue", ""), request.POST.get("reason", "").strip())
    except StewardError as exc:
        return _stale(request, approval, exc, {"reason": request.POST.get("reason", "")})
    messages.success(request, f"Moved to {request.POST.get('queue')}.")
    return redirect("approval_list")


@login_required
@require_POST
def approval_next(request: HttpRequest) -> HttpResponse:
    _reviewer(request)
    taken = next_request(request.user, request.POST.get("queue") or None)
    if taken is None:
        messages.info(request, "Nothing is waiting for you.")
        return redirect(reverse("approval_list"))
    return redirect("approval_detail", approval_id=taken.id)


@login_required
@require_POST
def approval_bulk(request: HttpRequest) -> HttpResponse:
    _reviewer(request)
    ids = request.POST.getlist("ids")
    decision = request.POST.get("decision", "")
    if not ids:
        messages.error(request, "Select at least one request.")
        return redirect("approval_list")
    try:
        ids = [str(uuid.UUID(i)) for i in ids]
    except ValueError:
        messages.error(request, "The selection was not understood; nothing was decided.")
        return redirect("approval_list")
    results = bulk_decide(
        ids, request.user, decision, comment=request.POST.get("comment", "").strip(),
        reason_code=request.POST.get("reason_code", "") if decision == "reject" else "",
    )
    summaries = dict(ApprovalRequest.objects.filter(id__in=ids).values_list("id", "summary"))
    request.session["bulk_results"] = [
        {**r, "summary": summaries.get(uuid.UUID(r["id"]), ""), "detail": error_text(r["detail"]) if r["detail"] else ""}
        for r in results
    ]
    ok = sum(1 for r in results if r["ok"])
    messages.success(request, f"{ok} of {len(results)} decided.") if ok else messages.error(request, "None decided.")
    return redirect("approval_list")

