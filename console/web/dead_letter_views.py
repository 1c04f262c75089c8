"""The dead-letter page: failed runs, newest first, each with Retry and Dismiss (engineers, admins)."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from agents.engine import dead_letters
from agents.engine.models import Agent
from console.kernel.errors import Invalid, StewardError
from console.kernel.pages import error_text, require
from console.kernel.roles import can_start_runs
from traces.inspection.replay import retry_dead_letter

__all__ = ["dead_letter_dismiss", "dead_letter_list", "dead_letter_retry"]


@login_required
@require_safe
def dead_letter_list(request: HttpRequest) -> HttpResponse:
    """`?agent=` filters, `?resolved=1` shows closed entries, `?cursor=` pages on."""
    require(can_start_runs(request.user))
    agent = request.GET.get("agent", "").strip()
    resolved = request.GET.get("resolved") == "1"
    try:
        found = dead_letters.page(agent=agent, resolved=resolved, cursor=request.GET.get("cursor", ""))
    except Invalid:
        messages.error(request, "That page link is not valid any more; here is the first page.")
        found = dead_letters.page(agent=agent, resolved=resolved)
    base = {k: v for k, v in (("agent", agent), ("resolved", "1" if resolved else "")) if v}
    return render(
        request,
        "console/dead_letters.html",
        {
            "letters": found.items,
            "next_url": "?" + urlencode({**base, "cursor": found.next_cursor}) if found.next_cursor else "",
            "agent": agent,
            "resolved": resolved,
            "agents": Agent.objects.filter(is_registered=True).values_list("key", flat=True),
            "back": request.get_full_path(),
        },
    )


def _back(request: HttpRequest) -> str:
    # Back to the page the button was on (filters and page kept); only our own list, never elsewhere.
    target = request.POST.get("back", "")
    list_url = reverse("dead_letter_list")
    return target if target.startswith(list_url) and "//" not in target else list_url


@login_required
@require_POST
def dead_letter_retry(request: HttpRequest, letter_id: uuid.UUID) -> HttpResponse:
    require(can_start_runs(request.user))
    try:
        run = retry_dead_letter(letter_id, request.user)
    except StewardError as exc:
        messages.error(request, f"Not retried: {error_text(exc.detail)}")
    else:
        messages.success(request, f"Run {run.id} is queued again, from its last checkpoint.")
    return redirect(_back(request))


@login_required
@require_POST
def dead_letter_dismiss(request: HttpRequest, letter_id: uuid.UUID) -> HttpResponse:
    require(can_start_runs(request.user))
    try:
        letter = dead_letters.dismiss(letter_id, request.user)
    except StewardError as exc:
        messages.error(request, f"Not dismissed: {error_text(exc.detail)}")
    else:
        messages.success(request, f"Dismissed the failure of run {letter.run_id}.")
    return redirect(_back(request))
