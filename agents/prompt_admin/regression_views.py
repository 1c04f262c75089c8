"""The regression replays on a prompt promotion's request page: start them, and the results
fragment the page includes (and polls while replays still run)."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from agents.prompt_admin.regression import DEFAULT_LIMIT, regression_context, replay_for_promotion
from agents.prompt_admin.services import PROMOTE_ACTION
from approvals.models import ApprovalRequest
from console.kernel.errors import StewardError
from console.kernel.pages import error_text

__all__ = ["promotion_regression"]


@login_required
@require_http_methods(["GET", "POST"])
def promotion_regression(request: HttpRequest, approval_id: uuid.UUID) -> HttpResponse:
    """GET: the results fragment. POST: replay the last N runs with the candidate version, then
    back to the request page, which shows them."""
    approval = ApprovalRequest.objects.visible_to(request.user).filter(id=approval_id, action=PROMOTE_ACTION).first()
    if approval is None:
        raise Http404("promotion request not found")
    if request.method == "POST":
        try:
            limit = int(request.POST.get("limit") or DEFAULT_LIMIT)
        except ValueError:
            messages.error(request, "N must be a whole number.")
        else:
            try:
                runs = replay_for_promotion(approval, request.user, limit=limit)
            except StewardError as exc:
                messages.error(request, error_text(exc.detail))
            else:
                messages.success(request, f"Replaying {len(runs)} run{'s' if len(runs) != 1 else ''} with this version.")
        return redirect(reverse("approval_detail", args=[approval.id]) + "#promotion-regression")
    context = {"approval": approval, "regression": regression_context(approval, request.user)}
    return render(request, "approvals/partials/_promotion_regression_results.html", context)
