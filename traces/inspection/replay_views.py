"""The run page's replay and retry actions."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from agents.engine.models import Run
from console.kernel.errors import Invalid, StewardError
from console.kernel.pages import error_text, require
from console.kernel.roles import can_start_runs
from traces.inspection.replay import MODES, preview, prompt_choices, replay, retry, steps_of
from traces.inspection.replay_forms import ReplayForm


def _run(request: HttpRequest, run_id: uuid.UUID) -> Run:
    require(can_start_runs(request.user))
    run = Run.objects.select_related("agent", "created_by").filter(id=run_id).first()
    if run is None:
        raise Http404("run not found")
    return run


@login_required
@require_POST
def run_replay(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    """Start a replay; one that runs node code again shows the safety preview and asks to confirm."""
    run = _run(request, run_id)
    form = ReplayForm.from_post(request.POST, prompt_choices(run))
    context = {
        "run": run, "form": form.values, "errors": form.errors, "steps": sorted(steps_of(run).items()), "modes": MODES,
        "prompt_choices": form.choices,
    }
    if form.errors:
        return render(request, "traces/replay_form.html", context, status=422)
    try:
        if form.needs_confirmation(request.POST):
            context["preview"] = preview(run, **form.replay_arguments())
            return render(request, "traces/replay_form.html", context)
        new = replay(run, request.user, **form.replay_arguments())
    except Invalid as exc:
        context["errors"] = form.service_errors(exc.detail)
        return render(request, "traces/replay_form.html", context, status=422)
    except StewardError as exc:
        context["errors"] = {"form": error_text(exc.detail)}
        return render(request, "traces/replay_form.html", context, status=exc.status)
    messages.success(request, f"Replay of run {run.id} queued.")
    return redirect("run_detail", run_id=new.id)


@login_required
@require_POST
def run_retry(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    run = _run(request, run_id)
    try:
        retry(run, request.user)
        messages.success(request, "Retrying from the last checkpoint.")
    except StewardError as exc:
        messages.error(request, f"Not retried: {error_text(exc.detail)}")
    return redirect("run_detail", run_id=run.id)
