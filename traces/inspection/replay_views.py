"""The run page's replay and retry actions."""

from __future__ import annotations

import json
import uuid
from typing import Any

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


def _run(request: HttpRequest, run_id: uuid.UUID) -> Run:
    require(can_start_runs(request.user))
    run = Run.objects.select_related("agent", "created_by").filter(id=run_id).first()
    if run is None:
        raise Http404("run not found")
    return run


def _int(raw: str) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if raw.lstrip("-").isdigit() else None


@login_required
@require_POST
def run_replay(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    """Start a replay; a live or mixed one shows what would happen again and asks to confirm."""
    run = _run(request, run_id)
    form = {k: request.POST.get(k, "") for k in ("from_step", "mode", "live_from_step", "state_patch", "model")}
    errors: dict[str, str] = {}
    patch: dict[str, Any] | None = None
    if form["state_patch"].strip():
        try:
            patch = json.loads(form["state_patch"])
            if not isinstance(patch, dict):
                raise ValueError
        except ValueError:
            errors["state_patch"] = "must be a JSON object of state keys and values, e.g. {\"topic\": \"x\"}"
    from_step, live_from_step = _int(form["from_step"]), _int(form["live_from_step"])
    choices = prompt_choices(run)
    chosen: dict[str, int] = {}
    for choice in choices:
        number = _int(request.POST.get(f"prompt__{choice['name']}", ""))
        choice["selected"] = number if number is not None else choice["pinned"]
        if number is not None and number != choice["pinned"]:
            chosen[choice["name"]] = number
    context = {
        "run": run, "form": form, "errors": errors, "steps": sorted(steps_of(run).items()), "modes": MODES,
        "prompt_choices": choices,
    }
    if errors:
        return render(request, "traces/replay_form.html", context, status=422)
    if form["mode"] in ("live", "mixed") and request.POST.get("confirm") != "yes":
        context["preview"] = preview(run, from_step=from_step, mode=form["mode"], live_from_step=live_from_step)
        return render(request, "traces/replay_form.html", context)
    try:
        new = replay(run, request.user, from_step=from_step, mode=form["mode"] or "recorded",
                     live_from_step=live_from_step, state_patch=patch,
                     prompt_versions=chosen or None, model=form["model"].strip() or None)
    except Invalid as exc:
        context["errors"] = {str(e["loc"][1]) if len(e["loc"]) > 1 else "form": e["msg"] for e in exc.detail}
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
