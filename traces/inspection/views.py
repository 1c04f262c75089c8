"""Run inspection pages: export a trace, import one, score a run, feedback per agent, a thread."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from agents.engine.models import Run
from console.kernel.errors import Invalid, StewardError
from console.kernel.pages import error_text, pretty, require
from console.kernel.roles import can_read_runs, can_start_runs
from traces.inspection.api import export_response
from traces.inspection.export import import_run, max_import_bytes, parse_trace
from traces.inspection.feedback import FILTER_VALUES, can_give_feedback, give_feedback, per_agent
from traces.inspection.threads import thread_runs

# How much of a run's input and output the thread page shows before "…".
PREVIEW_CHARS = 400


def _run_or_404(run_id: uuid.UUID) -> Run:
    run = Run.objects.select_related("agent", "created_by").filter(id=run_id).first()
    if run is None:
        raise Http404("run not found")
    return run


@login_required
def run_export(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    """The run's trace as a JSON file download (the run page's "Export" link)."""
    require(can_read_runs(request.user))
    return export_response(_run_or_404(run_id), request.user)


@login_required
@require_http_methods(["GET", "POST"])
def run_import(request: HttpRequest) -> HttpResponse:
    """A form to upload an exported trace; on success, the new (read-only) run's page."""
    require(can_start_runs(request.user))
    errors: list[str] = []
    if request.method == "POST":
        upload = request.FILES.get("trace")
        limit = max_import_bytes()
        if upload is None:
            errors = ["Choose an exported trace file (run-<id>.json) to import."]
        elif upload.size is not None and upload.size > limit:
            errors = [f"The file is larger than the {limit}-byte import limit."]
        else:
            try:
                run = import_run(parse_trace(upload.read()), request.user)
            except Invalid as exc:
                detail = exc.detail if isinstance(exc.detail, list) else [exc.detail]
                errors = [error_text([e]) for e in detail]
            except StewardError as exc:
                errors = [error_text(exc.detail)]
            else:
                source = run.metadata["imported"]["source"] or "another Steward"
                messages.success(request, f"Imported run {run.metadata['imported']['original_id']} from {source}.")
                return redirect("run_detail", run_id=run.id)
    return render(request, "traces/run_import.html", {"errors": errors}, status=422 if errors else 200)


@login_required
@require_POST
def run_feedback(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    """Score the run from its page (thumbs up/down, label, comment); back to the run page."""
    require(can_give_feedback(request.user))
    run = _run_or_404(run_id)
    try:
        score = int(request.POST.get("score", ""))
    except ValueError:
        score = 0
    try:
        _, created = give_feedback(
            run, request.user, score, request.POST.get("label", ""), request.POST.get("comment", "")
        )
    except Invalid as exc:
        messages.error(request, f"Not scored: {error_text(exc.detail)}.")
    else:
        messages.success(request, "Feedback recorded." if created else "Your feedback was replaced.")
    return redirect(reverse("run_detail", args=[run.id]) + "#feedback")


@login_required
def feedback_per_agent(request: HttpRequest) -> HttpResponse:
    """Thumbs up and down per agent, with links to the runs behind them."""
    require(can_read_runs(request.user))
    rows = per_agent()
    for row in rows:
        scored = row["up"] + row["down"]
        row["positive_pct"] = round(100 * row["up"] / scored) if scored else None
    return render(request, "traces/feedback_per_agent.html", {"rows": rows, "filters": FILTER_VALUES})


def _preview(value: Any) -> str:
    text = pretty(value)
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"


@login_required
def thread_detail(request: HttpRequest, thread_id: str) -> HttpResponse:
    """A conversation: the thread's runs in order, each with its input and what came of it."""
    require(can_read_runs(request.user))
    runs = list(thread_runs(thread_id))
    if not runs:
        raise Http404("thread not found")
    rows = [{"run": r, "input": _preview(r.input), "output": _preview(r.output)} for r in runs]
    return render(request, "traces/thread_detail.html", {"thread_id": thread_id, "rows": rows})
