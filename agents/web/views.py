"""Run pages: the list, the start form per agent, the run page and its cancel button."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from agents.engine.limits import agent_limits, limit_form_fields, limits_from_form
from agents.engine.models import Agent, Run
from agents.engine.registry import AgentSpec, get_agent
from agents.engine.services import cancel_run, start_run
from agents.web.run_filters import SORTS, RunFilters
from agents.web.run_page import run_context, run_for_page, span_page
from approvals.models import ApprovalRequest
from console.kernel.errors import Conflict, Forbidden, Invalid
from console.kernel.pages import require
from console.kernel.roles import can_read_runs, can_start_runs
from traces.inspection.replay import MODES, prompt_choices, steps_of
from traces.inspection.waterfall import payload_view, state_diff
from traces.recording.models import Span


class HtmxHttpRequest(HttpRequest):
    """A request as django_htmx's HtmxMiddleware (settings.MIDDLEWARE) leaves it."""

    htmx: HtmxDetails

PAGE_SIZE = 50
# What a row of the runs list shows (and the cursor reads): not the output, traceback or limits.
LIST_COLUMNS = ("id", "status", "input", "created_at", "started_at", "finished_at", "latency_ms", "steps", "tokens_in",
                "tokens_out", "cost", "prompt_versions", "agent__key", "agent__name", "created_by__username")
# The runs list's filters behind "More filters" (search, status and agent are always shown).
MORE_FILTERS = ("since", "until", "started_by", "tag", "meta", "model", "prompt", "cost_min", "cost_max",
                "duration_min", "duration_max", "has_error", "feedback", "waiting_approval")


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    require(can_read_runs(request.user))
    filters = RunFilters.parse(request.GET)
    for error in filters.errors:
        messages.error(request, f"{error['loc'][-1]}: {error['msg']} (ignored)")
    if filters.errors:
        # Keep the valid filters, drop the bad ones, so the page still shows something useful.
        bad = {e["loc"][-1] for e in filters.errors}
        filters = RunFilters.parse({k: v for k, v in filters.raw.items() if k not in bad})
    rows, next_cursor = filters.page(Run.objects.select_related("agent", "created_by").only(*LIST_COLUMNS), PAGE_SIZE)
    pending = set(
        ApprovalRequest.objects.pending().filter(run_id__in=[r.id for r in rows]).values_list("run_id", flat=True)
    )
    return render(
        request,
        "agents/run_list.html",
        {
            "runs": rows,
            "pending": pending,
            "next_cursor": next_cursor,
            "filters": filters,
            "f": filters.raw,
            "more_filters_set": sum(1 for name in MORE_FILTERS if name in filters.raw),
            "base_query": filters.query_without("cursor"),
            "sort_query": filters.query_without("cursor", "sort"),
            "agents": Agent.objects.filter(is_registered=True),
            "statuses": Run.Status.values,
            "sorts": SORTS,
        },
    )


def _form_fields(schema: dict[str, Any], values: dict[str, Any], errors: dict[str, str]) -> list[dict[str, Any]]:
    required = set(schema.get("required", []))
    fields = []
    for name, prop in schema.get("properties", {}).items():
        kind = prop.get("type", "string")
        fields.append(
            {
                "name": name,
                "label": prop.get("title", name),
                "help": prop.get("description", ""),
                "type": "number" if kind in ("number", "integer") else "text",
                "step": "1" if kind == "integer" else "any",
                "required": name in required,
                "value": values.get(name, ""),
                "error": errors.get(name, ""),
            }
        )
    return fields


def _coerce(schema: dict[str, Any], post: Any) -> dict[str, Any]:
    """Form strings to the schema's types; what does not parse is left for the schema to refuse."""
    data: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        raw = post.get(name, "")
        if raw == "":
            continue
        if prop.get("type") in ("number", "integer"):
            try:
                data[name] = int(raw) if prop["type"] == "integer" else float(raw)
            except ValueError:
                data[name] = raw
        else:
            data[name] = raw
    return data


def _field_errors(exc: Invalid) -> dict[str, str]:
    """The service's errors by form field; limits come back as ["limits", name], their fields are limit_<name>."""
    errors = {}
    for error in exc.detail:
        loc = error["loc"]
        field = (f"limit_{loc[1]}" if loc[0] == "limits" else loc[1]) if len(loc) > 1 else "__all__"
        errors[field] = error["msg"]
    return errors


def _start_context(spec: AgentSpec, schema: dict[str, Any], values: dict[str, Any], errors: dict[str, str], post: Any) -> dict[str, Any]:
    base_limits = agent_limits(spec, Agent.objects.filter(key=spec.key).first())
    return {
        "spec": spec,
        "fields": _form_fields(schema, values, errors),
        "form_error": errors.get("__all__", ""),
        "limit_fields": limit_form_fields(base_limits, post, errors),
        "limits_error": errors.get("__limits__", ""),
        "limits_open": any(k.startswith("limit_") or k == "__limits__" for k in errors),
        "on_breach": base_limits.on_breach,
    }


@login_required
@require_http_methods(["GET", "POST"])
def run_start(request: HttpRequest, agent_key: str) -> HttpResponse:
    require(can_start_runs(request.user))
    spec = get_agent(agent_key)
    if spec is None:
        raise Http404("unknown agent")
    schema = spec.input_json_schema()
    values: dict[str, Any] = dict(spec.example_input)
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        values = {k: request.POST.get(k, "") for k in schema.get("properties", {})}
        try:
            run = start_run(agent_key, _coerce(schema, request.POST), request.user, limits=limits_from_form(request.POST))
        except Invalid as exc:
            errors, status = _field_errors(exc), 422
        except Forbidden as exc:
            errors, status = {"__limits__": str(exc.detail)}, 403
        else:
            messages.success(request, f"Run {run.id} queued.")
            return redirect("run_detail", run_id=run.id)
    post = request.POST if request.method == "POST" else None
    return render(request, "agents/run_start.html", _start_context(spec, schema, values, errors, post), status=status)


@login_required
def run_detail(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    require(can_read_runs(request.user))
    run = run_for_page(run_id)
    if run is None:
        raise Http404("run not found")

    return render(
        request,
        "agents/run_detail.html",
        {
            **run_context(run, request.user),
            "replays": list(run.replays.order_by("created_at").only("id", "status")[:20]),
            "steps": sorted(steps_of(run).items()),
            "modes": MODES,
            "replay_form": {"mode": "recorded"},
            "prompt_choices": prompt_choices(run),
            "replay_errors": {},
        },
    )


@login_required
@require_POST
def run_cancel(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    require(can_start_runs(request.user))
    run = Run.objects.select_related("agent").filter(id=run_id).first()
    if run is None:
        raise Http404("run not found")
    try:
        cancel_run(run, request.user)
        messages.success(request, "Run cancelled.")
    except Conflict as exc:
        messages.error(request, f"Not cancelled: {exc.detail}.")
    return redirect("run_detail", run_id=run.id)


def _run_for(request: HttpRequest, run_id: uuid.UUID) -> Run:
    require(can_read_runs(request.user))
    run = run_for_page(run_id)
    if run is None:
        raise Http404("run not found")
    return run


@login_required
def run_spans(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    """The next page of waterfall rows after `after` (the page loads them as you scroll on)."""
    run = _run_for(request, run_id)
    try:
        after = int(request.GET.get("after", "-1"))
    except ValueError:
        after = -1
    return render(request, "agents/partials/_span_page.html", {"run": run, **span_page(run, after)})


@login_required
def span_detail(request: HtmxHttpRequest, run_id: uuid.UUID, seq: int) -> HttpResponse:
    """One span's inputs, outputs, error and the state its step saved (loaded when opened)."""
    run = _run_for(request, run_id)
    span = Span.objects.filter(run=run, seq=seq).select_related("prompt_version__prompt").first()
    if span is None:
        raise Http404("span not found")
    context = {
        "run": run,
        "span": span,
        "input": payload_view(span.input),
        "output": payload_view(span.output),
        "diff": state_diff(run, span),
    }
    template = "agents/partials/_span_detail.html" if request.htmx else "agents/span_page.html"
    return render(request, template, context)


@login_required
def span_payload(request: HttpRequest, run_id: uuid.UUID, seq: int, part: str) -> HttpResponse:
    """A whole payload as a JSON download (the page shows at most PAYLOAD_CAP characters)."""
    run = _run_for(request, run_id)
    if part not in ("input", "output"):
        raise Http404("no such part")
    span = Span.objects.filter(run=run, seq=seq).only(part).first()
    if span is None:
        raise Http404("span not found")
    response = HttpResponse(json.dumps(getattr(span, part), indent=2, ensure_ascii=False), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="run-{run.id}-span-{seq}-{part}.json"'
    return response
