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
from agents.web.run_page import (
    compare_choices,
    run_context,
    run_for_page,
    selected_span,
    span_context,
    span_page,
)
from approvals.models import ApprovalRequest
from console.kernel.errors import Conflict, Forbidden, Invalid
from console.kernel.pages import require
from console.kernel.roles import can_read_runs, can_start_runs
from traces.inspection.replay import MODES, prompt_choices, steps_of
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


SCALAR_TYPES = ("string", "number", "integer")


def _takes_json(schema: dict[str, Any]) -> bool:
    """True when the input is not a flat set of text and number fields (a `messages` list, any
    JSON object): the form then asks for the whole input as one JSON object."""
    properties = schema.get("properties", {})
    return not properties or any(prop.get("type") not in SCALAR_TYPES for prop in properties.values())


def _json_field(values: Any, errors: dict[str, str], raw: str | None) -> dict[str, Any]:
    return {
        "name": "input",
        "label": "Input (a JSON object)",
        "help": "The graph's input, e.g. {\"messages\": [{\"role\": \"user\", \"content\": \"...\"}]}.",
        "type": "json",
        "required": True,
        "value": raw if raw is not None else json.dumps(values, indent=2),
        "error": errors.get("input", ""),
    }


def _json_input(raw: str) -> dict[str, Any]:
    """The JSON textarea's object; what is not one is refused on the field, the text kept."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise Invalid([{"loc": ["body", "input"], "msg": f"Not JSON: {exc}"}]) from exc
    if not isinstance(data, dict):
        raise Invalid([{"loc": ["body", "input"], "msg": "The input must be a JSON object ({...})."}])
    return data


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


def _field_errors(exc: Invalid, as_json: bool = False) -> dict[str, str]:
    """The service's errors by form field; limits come back as ["limits", name], their fields are limit_<name>."""
    errors = {}
    for error in exc.detail:
        loc = error["loc"]
        field = (f"limit_{loc[1]}" if loc[0] == "limits" else loc[1]) if len(loc) > 1 else "__all__"
        if as_json and not field.startswith("limit_") and field != "input":
            # The JSON textarea is one field: the error names where in the object it is.
            field, where = "input", ".".join(str(part) for part in loc[1:])
            errors["input"] = f"{where}: {error['msg']}" if where else error["msg"]
            continue
        errors[field] = error["msg"]
    return errors


def _start_context(spec: AgentSpec, schema: dict[str, Any], values: dict[str, Any], errors: dict[str, str], post: Any) -> dict[str, Any]:
    base_limits = agent_limits(spec, Agent.objects.filter(key=spec.key).first())
    raw_json = post.get("input") if post is not None else None
    fields = [_json_field(values, errors, raw_json)] if _takes_json(schema) else _form_fields(schema, values, errors)
    return {
        "spec": spec,
        "fields": fields,
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
    as_json = _takes_json(schema)
    if request.method == "POST":
        values = {k: request.POST.get(k, "") for k in schema.get("properties", {})}
        try:
            data = _json_input(request.POST.get("input", "")) if as_json else _coerce(schema, request.POST)
            run = start_run(agent_key, data, request.user, limits=limits_from_form(request.POST))
        except Invalid as exc:
            errors, status = _field_errors(exc, as_json), 422
        except Forbidden as exc:
            errors, status = {"__limits__": str(exc.detail)}, 403
        else:
            messages.success(request, f"Run {run.id} queued.")
            return redirect("run_detail", run_id=run.id)
    post = request.POST if request.method == "POST" else None
    return render(request, "agents/run_start.html", _start_context(spec, schema, values, errors, post), status=status)


def _after(request: HttpRequest) -> int | None:
    try:
        return int(request.GET["after"])
    except (KeyError, ValueError):
        return None


@login_required
def run_detail(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    """The run page; `?span=<span id>` opens that span (a failed run opens its failing one),
    `?after=<seq>` shows the waterfall's rows after that span (the no-script "More steps")."""
    require(can_read_runs(request.user))
    run = run_for_page(run_id)
    if run is None:
        raise Http404("run not found")
    selected = selected_span(run, request.GET.get("span", ""))
    return render(
        request,
        "agents/run_detail.html",
        {
            **run_context(run, request.user, after=_after(request)),
            "selected": span_context(run, selected) if selected else None,
            "compare_choices": compare_choices(run),
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
    """The next page of waterfall rows (tree order) after the span numbered `after`."""
    run = _run_for(request, run_id)
    return render(request, "agents/partials/_span_page.html", {"run": run, **span_page(run, _after(request))})


@login_required
def span_detail(request: HtmxHttpRequest, run_id: uuid.UUID, seq: int) -> HttpResponse:
    """One span's inputs, outputs, error and the state its step saved (loaded when opened)."""
    run = _run_for(request, run_id)
    span = Span.objects.filter(run=run, seq=seq).select_related("prompt_version__prompt").first()
    if span is None:
        raise Http404("span not found")
    template = "agents/partials/_span_detail.html" if request.htmx else "agents/span_page.html"
    return render(request, template, span_context(run, span))


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
