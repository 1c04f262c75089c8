"""The reviewers' pages: the inbox, a request's decision page, and the actions on it."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
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
    """The inbox: a page of compact rows (keyset-paginated) beside the selected request's pane.
    "Asked of you" (`?asked=1`) lists the questions the user's own runs put to them; a user who
    reviews no queue sees only those, and only while they are asked something."""
    require(inbox.may_open_inbox(request.user))
    is_reviewer = has_role(request.user, REVIEWERS)
    filters = inbox.filters_for(request.user, inbox.InboxFilters.from_query(request.GET).read_now())
    page = inbox.filtered_inbox(request.user, filters)
    filters = page.filters
    if request.GET.get("rows") and request.headers.get("HX-Request"):
        return _list_fragments(request, page)
    for problem in filters.errors:
        messages.error(request, problem)
    selected = _selected(request, page)
    queues = inbox.my_queues(request.user)
    return render(
        request,
        "approvals/approval_list.html",
        {
            "page": page,
            "filters": filters,
            "live_query": filters.as_query(),
            # Read now, nothing is new yet; a link that carried its time may have some.
            "new_count": inbox.new_count(request.user, filters) if "since" in request.GET else 0,
            "is_reviewer": is_reviewer,
            "asked_count": inbox.asked_count(request.user, request),
            "queues": queues,
            "agents": Agent.objects.filter(is_registered=True).values_list("key", flat=True),
            "reason_codes": sorted({c for q in queues for c in (q.reason_codes or [])}),
            "bulk_results": request.session.pop("bulk_results", None),
            "selected_id": selected.id if selected else None,
            **(_pane_context(request, selected, filters) if selected else {"pane_filters": filters}),
        },
    )


def _list_fragments(request: HttpRequest, page: inbox.InboxPage) -> HttpResponse:
    """The answer to "show" on the new-requests bar: the list read again with the new requests on
    top, and the bar (empty again), both out of band, as the live push sends them."""
    context = {"page": page, "filters": page.filters, "oob": True, "new_count": inbox.new_count(request.user, page.filters)}
    html = render_to_string("approvals/partials/_approval_rows.html", context)
    return HttpResponse(html + render_to_string("approvals/partials/_new_requests.html", context))


def _selected(request: HttpRequest, page: inbox.InboxPage) -> ApprovalRequest | None:
    """The request the pane shows: `?selected=<id>` when the reviewer may see it, else the first row."""
    try:
        wanted = uuid.UUID(request.GET.get("selected", ""))
    except ValueError:
        rows = page.fresh + page.requests
        return rows[0] if rows else None
    return inbox.visible_request(request.user, wanted)


def _visible(request: HttpRequest, approval_id: uuid.UUID) -> ApprovalRequest:
    found = inbox.visible_request(request.user, approval_id)
    if found is None:
        raise Http404("approval request not found")
    return found


def _reviewed_or_asked(request: HttpRequest, approval_id: uuid.UUID) -> ApprovalRequest:
    """The request for its page and its decision: a reviewer's (as `_visible`), or one put to
    its run's requester (`ApprovalRequest.is_put_to`: by default a question), reviewer or not."""
    asked = inbox.put_to_requester(approval_id, request.user)
    if asked is not None:
        return asked
    _reviewer(request)
    return _visible(request, approval_id)


def _detail_context(request: HttpRequest, approval: ApprovalRequest, full: bool = True, **extra: Any) -> dict[str, Any]:
    """What the request's page shows; `full=False` leaves out what only the page has (the
    conversation, the run input, the history), for the inbox's pane."""
    proposed = shown(approval.proposed_args)
    values = extra.pop("edit_values", None) or proposed or {}
    edit_errors = extra.pop("edit_errors", {})
    page_only: dict[str, Any] = {
        "run_input": pretty(approval.run.input) if approval.run else "",
        "conversation": inbox.conversation_of(approval),
        "history": inbox.history_of(approval),
    } if full else {}
    return {
        **inbox.outcome_context(approval),
        **page_only,
        "args_items": inbox.args_items(proposed, approval.args_schema),
        "args": pretty(proposed),
        # The run's requester, who may not decide this one (four-eyes) or is asked it (a question).
        "is_requester": approval.requested_by_id == request.user.pk and not approval.is_put_to(request.user),
        "asked": approval.is_put_to(request.user),
        "held_by_other": approval.held_by_other(request.user),
        "edit_fields": inbox.edit_fields(approval.args_schema or {}, values, edit_errors),
        "edit_undeclared": inbox.undeclared_errors(approval.args_schema or {}, edit_errors),
        "reassign_queues": Queue.objects.exclude(id=approval.queue_id).order_by("name"),
        "typed": {},
        **inbox.shape_context(approval),
        **extra,
    }


def _pane_context(request: HttpRequest, approval: ApprovalRequest, filters: inbox.InboxFilters, **extra: Any) -> dict[str, Any]:
    """The inbox's pane: the request's detail and decision forms, which post back to the pane
    with the inbox's filters (`pane_filters`), so that the next request of the same list follows."""
    live = inbox.pane_live_context(request.user, approval, filters)
    return {**_detail_context(request, approval, full=False, **extra), **live, "pane": True}


def _pane_filters(request: HttpRequest) -> inbox.InboxFilters:
    """The inbox filters a pane request carries (`inbox=<query>`): the list it belongs to."""
    query = QueryDict(request.GET.get("inbox") or request.POST.get("inbox") or "")
    return inbox.filters_for(request.user, inbox.InboxFilters.from_query(query))


@login_required
def approval_detail(request: HttpRequest, approval_id: uuid.UUID) -> HttpResponse:
    """Opening a pending request claims it, so other reviewers see who is on it (unless the
    reviewer holds it already: a reload is not a new claim). `?pane=1` is the inbox's pane, the
    same request without the page around it: looking is not claiming."""
    approval = _reviewed_or_asked(request, approval_id)
    if request.GET.get("pane"):
        return _pane_response(request, "approvals/partials/_approval_pane.html", _pane_context(request, approval, _pane_filters(request)))
    holds = approval.current_holder is not None and approval.claimed_by_id == request.user.pk
    if approval.status == ApprovalRequest.Status.PENDING and not holds and not approval.held_by_other(request.user):
        try:
            claim(approval.id, request.user)
            approval = _reviewed_or_asked(request, approval_id)
        except StewardError:
            pass  # may not decide or claim here (the run's requester, an excluded group): the page says why
    return render(request, "approvals/approval_detail.html", _detail_context(request, approval))


def _stale(request: HttpRequest, approval: ApprovalRequest, exc: StewardError, typed: dict[str, Any], **extra: Any) -> HttpResponse:
    """A decision that came too late or was refused: say what happened, keep what was typed."""
    approval = _reviewed_or_asked(request, approval.id)
    pane = bool(request.POST.get("pane"))
    context = _pane_context(request, approval, _pane_filters(request), **extra) if pane else _detail_context(request, approval, **extra)
    context["typed"] = typed
    context["problem"] = error_text(exc.detail)
    if pane:
        return _pane_response(request, "approvals/partials/_approval_pane.html", context, status=exc.status)
    return render(request, "approvals/approval_detail.html", context, status=exc.status)


@login_required
@require_POST
def approval_decide(request: HttpRequest, approval_id: uuid.UUID) -> HttpResponse:
    """Decide; then the next request: in the inbox's pane (`pane=1`) the next one of its list,
    in place; on the request's page the next one of the same queue (or the inbox when none); for
    the run's requester who answered a question put to them, their run."""
    approval = _reviewed_or_asked(request, approval_id)
    form = DecisionForm.from_post(request.POST, approval)
    refused_answer = form.answer_refused()
    if refused_answer is not None:
        return _stale(request, approval, refused_answer, form.typed, **form.answer_context())
    if form.is_edit:
        refused = form.read_args(approval, request.POST)
        if refused is not None:
            return _stale(request, approval, refused, form.typed, **form.edit_context())
        if request.POST.get("confirm") != "yes":
            return _edit_preview(request, approval, form)
    try:
        decided = decide(
            approval.id, request.user, form.decision, args=form.args, comment=form.comment, reason_code=form.reason_code,
            value=form.value, actions=form.actions,
        )
    except Invalid as exc:
        form.take_errors(exc)
        return _stale(request, approval, exc, form.typed, **form.edit_context(), **form.answer_context())
    except StewardError as exc:
        return _stale(request, approval, exc, form.typed)
    if decided.status == ApprovalRequest.Status.PENDING:
        notice = f"Approval recorded: {decided.approvals} of {decided.queue.required_approvals}."
    else:
        notice = f"{decided.status.capitalize()}: {decided.summary or decided.action}. The run resumes."
    if request.POST.get("pane"):
        return _next_in_pane(request, decided, notice)
    messages.success(request, notice)
    if decided.run_id is not None and decided.is_put_to(request.user):
        return redirect("run_detail", run_id=decided.run_id)
    return _next_in_queue(request, decided)


def _edit_preview(request: HttpRequest, approval: ApprovalRequest, form: DecisionForm) -> HttpResponse:
    """Show the diff against the proposal before anything is approved (in the pane, or as a page)."""
    context = {
        "approval": approval,
        "diff": inbox.diff_items(args_diff(shown(approval.proposed_args), shown(form.args)), approval.args_schema),
        "post": request.POST,
        "comment": form.comment,
        "pane": bool(request.POST.get("pane")),
        "pane_filters": _pane_filters(request),
    }
    if context["pane"]:
        return _pane_response(request, "approvals/partials/_edit_preview.html", context)
    return render(request, "approvals/approval_edit_preview.html", context)


def _next_in_pane(request: HttpRequest, decided: ApprovalRequest, notice: str) -> HttpResponse:
    """The pane of the request after the decided one in the reviewer's list, and the list's rows
    again (out of band: the decided one is gone), in one response."""
    page = inbox.filtered_inbox(request.user, _pane_filters(request))
    filters = page.filters
    following = inbox.next_after(request.user, filters, decided, page)
    context = _pane_context(request, following, filters) if following else {"pane": True, "pane_filters": filters}
    rows = {"page": page, "oob": True, "selected_id": following.id if following else None, "filters": filters}
    return _pane_response(
        request, "approvals/partials/_approval_pane.html", {**context, "notice": notice},
        also=render_to_string("approvals/partials/_approval_rows.html", rows),
    )


def _pane_response(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200, also: str = "") -> HttpResponse:
    """A pane's answer: the fragment alone, without the page's context processors (the navigation's
    count is the live push's to update), and leaving the address alone (htmx pushes a boosted
    form's URL otherwise: the inbox stays the inbox, and Back leaves it)."""
    html = render_to_string(template, {**context, "csrf_token": get_token(request), "user": request.user})
    response = HttpResponse(html + also, status=status)
    response["HX-Push-Url"] = "false"
    return response


def _next_in_queue(request: HttpRequest, decided: ApprovalRequest) -> HttpResponse:
    """After a decision on the request's page: the next request of the same queue, claimed for
    the reviewer; none left, the inbox says so."""
    taken = next_request(request.user, decided.queue.name)
    if taken is None:
        messages.info(request, f"Nothing else is waiting for you in {decided.queue.name}.")
        return redirect("approval_list")
    return redirect("approval_detail", approval_id=taken.id)


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

