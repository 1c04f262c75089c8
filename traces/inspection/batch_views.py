"""Pages of a batch replay: the form that starts one, and the summary of what came of it."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from agents.engine.models import Agent, Run
from agents.engine.registry import get_agent
from agents.prompts.models import Prompt
from console.kernel.errors import StewardError
from console.kernel.pages import error_text, require
from console.kernel.roles import can_start_runs
from traces.inspection.batch import MAX_BATCH, batch_runs, failed_step, last_failed, replay_failed
from traces.recording.models import Span

__all__ = ["replay_batch", "replay_batch_rows", "replay_failed_form"]

DEFAULT_LIMIT = 5


def _parse(data: Any) -> tuple[dict[str, Any], list[str]]:
    """The form's limit, from_step, state patch, prompt versions and model, with a message per bad field."""
    errors: list[str] = []
    values: dict[str, Any] = {
        "limit": DEFAULT_LIMIT, "from_step": None, "state_patch": None, "prompt_versions": {}, "model": None,
    }
    try:
        values["limit"] = int(data.get("limit", DEFAULT_LIMIT) or DEFAULT_LIMIT)
    except ValueError:
        errors.append("N must be a whole number.")
    else:
        if not 1 <= values["limit"] <= MAX_BATCH:
            errors.append(f"N must be between 1 and {MAX_BATCH}.")
    raw_step = (data.get("from_step") or "").strip()
    if raw_step:
        try:
            values["from_step"] = int(raw_step)
        except ValueError:
            errors.append("The step must be a whole number.")
    raw_patch = (data.get("state_patch") or "").strip()
    if raw_patch:
        try:
            patch = json.loads(raw_patch)
        except json.JSONDecodeError as exc:
            errors.append(f"The state patch is not valid JSON: {exc}.")
        else:
            if isinstance(patch, dict):
                values["state_patch"] = patch or None
            else:
                errors.append("The state patch must be a JSON object of state keys and their new values.")
    # Each prompt's select sends "name@N", or nothing to keep the version each run pinned.
    for choice in data.getlist("prompt") if hasattr(data, "getlist") else []:
        if not choice.strip():
            continue
        name, _, number = choice.strip().partition("@")
        if not name or not number.isdigit():
            errors.append(f"{choice!r} is not a prompt version: pick one from the list.")
        else:
            values["prompt_versions"][name] = int(number)
    model = (data.get("model") or "").strip()
    if len(model) > 200:
        errors.append("The model name is too long (at most 200 characters).")
    elif model:
        values["model"] = model
    return values, errors


def _choices(agent: Agent, candidates: list[Run], chosen: dict[str, int]) -> dict[str, Any]:
    """The prompts the agent uses (declared, or pinned by the runs this takes) with their versions,
    and the models seen in those runs or named by the versions, for the form's lists."""
    spec = get_agent(agent.key)
    names = set(spec.prompts if spec else ())
    for run in candidates:
        names.update((run.prompt_versions or {}).keys())
    prompts = list(Prompt.objects.filter(name__in=sorted(names)).prefetch_related("versions", "labels"))
    spans = Span.objects.filter(run__in=candidates, kind=Span.Kind.MODEL).exclude(model="")
    models = set(spans.values_list("model", flat=True).distinct())
    rows = []
    for prompt in prompts:
        labels: dict[int, list[str]] = {}
        for label in prompt.labels.all():
            labels.setdefault(label.version_id, []).append(label.name)
        versions = sorted(prompt.versions.all(), key=lambda v: -v.number)
        models.update(str(v.model_settings.get("model")) for v in versions if (v.model_settings or {}).get("model"))
        rows.append({
            "name": prompt.name,
            "selected": chosen.get(prompt.name),
            "versions": [{"version": v, "labels": labels.get(v.pk, [])} for v in versions],
        })
    return {"prompts": rows, "models": sorted(models)}


@login_required
@require_http_methods(["GET", "POST"])
def replay_failed_form(request: HttpRequest, agent_key: str) -> HttpResponse:
    """GET: the form (N; optionally a state patch and step, prompt versions, a model) with the
    failed runs it would take. POST: start the batch and go to its summary."""
    require(can_start_runs(request.user))
    agent = Agent.objects.filter(key=agent_key).first()
    if agent is None:
        raise Http404("agent not found")
    source = request.POST if request.method == "POST" else request.GET
    values, errors = _parse(source)
    if request.method == "POST" and not errors:
        try:
            runs = replay_failed(
                agent.key, request.user, limit=values["limit"],
                state_patch=values["state_patch"], from_step=values["from_step"],
                prompt_versions=values["prompt_versions"] or None, model=values["model"],
            )
        except StewardError as exc:
            errors = [error_text(exc.detail)]
        else:
            if runs:
                return redirect("replay_batch", batch_id=runs[0].metadata["replay"]["batch"])
            errors = [f"{agent.key} has no failed runs to replay."]
    failed = last_failed(agent.key, values["limit"])
    candidates = [{"run": r, "failed_step": failed_step(r)} for r in failed]
    context = {
        **_choices(agent, failed, values["prompt_versions"]),
        "agent": agent,
        "values": values,
        "state_patch_text": (source.get("state_patch") or "") if source else "",
        "from_step_text": (source.get("from_step") or "") if source else "",
        "errors": errors,
        "candidates": candidates,
        "max_batch": MAX_BATCH,
    }
    return render(request, "traces/replay_failed.html", context, status=422 if errors and request.method == "POST" else 200)


def _summary(batch_id: uuid.UUID) -> dict[str, Any]:
    runs = batch_runs(batch_id)
    if not runs:
        raise Http404("no such batch")
    rows = [{"original": r.parent_run, "replay": r, "fixed": r.status == Run.Status.SUCCEEDED} for r in runs]
    change = runs[0].metadata.get("replay") or {}
    return {
        "batch_id": batch_id,
        "agent": runs[0].agent,
        "rows": rows,
        "change": change,
        "fixed": sum(1 for row in rows if row["fixed"]),
        "active": any(r.status in Run.ACTIVE for r in runs),
    }


@login_required
@require_GET
def replay_batch(request: HttpRequest, batch_id: uuid.UUID) -> HttpResponse:
    """Each original → its replay, both statuses, and a link to their diff."""
    require(can_start_runs(request.user))
    return render(request, "traces/replay_batch.html", _summary(batch_id))


@login_required
@require_GET
def replay_batch_rows(request: HttpRequest, batch_id: uuid.UUID) -> HttpResponse:
    """The summary table alone: the page fetches it again every 2 s while a replay is unfinished."""
    require(can_start_runs(request.user))
    return render(request, "traces/partials/_replay_batch_rows.html", _summary(batch_id))
