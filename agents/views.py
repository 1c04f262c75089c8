"""Run pages: the list, the start form per agent, the run page and its cancel button."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from agents.api import _decode_cursor, _encode_cursor
from agents.models import Agent, Run
from agents.registry import get_agent
from agents.services import cancel_run, start_run
from console.errors import Conflict, Invalid
from console.pages import pretty, require
from console.roles import can_read_runs, can_start_runs
from traces.models import Span

PAGE_SIZE = 50


def span_rows(spans: list[Span]) -> list[dict[str, Any]]:
    return [{"span": s, "input": pretty(s.input), "output": pretty(s.output)} for s in spans]


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    require(can_read_runs(request.user))
    runs = Run.objects.select_related("agent", "created_by").order_by("-created_at", "-id")
    status, agent = request.GET.get("status", ""), request.GET.get("agent", "")
    if status in Run.Status.values:
        runs = runs.filter(status=status)
    elif status:
        messages.error(request, f"Unknown status {status!r}: showing all runs.")
    if agent:
        runs = runs.filter(agent__key=agent)
    cursor = request.GET.get("cursor")
    if cursor:
        try:
            created, run_id = _decode_cursor(cursor)
            runs = runs.filter(Q(created_at__lt=created) | Q(created_at=created, id__lt=run_id))
        except Invalid:
            messages.error(request, "That page link is no longer valid: showing the newest runs.")
    page = list(runs[: PAGE_SIZE + 1])
    next_cursor = _encode_cursor(page[PAGE_SIZE - 1]) if len(page) > PAGE_SIZE else None
    return render(
        request,
        "agents/run_list.html",
        {
            "runs": page[:PAGE_SIZE],
            "next_cursor": next_cursor,
            "agents": Agent.objects.filter(is_registered=True),
            "statuses": Run.Status.values,
            "status": status,
            "agent": agent,
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


@login_required
@require_http_methods(["GET", "POST"])
def run_start(request: HttpRequest, agent_key: str) -> HttpResponse:
    require(can_start_runs(request.user))
    spec = get_agent(agent_key)
    if spec is None:
        raise Http404("unknown agent")
    schema = spec.input_schema.model_json_schema()
    values: dict[str, Any] = dict(spec.example_input)
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {k: request.POST.get(k, "") for k in schema.get("properties", {})}
        try:
            run = start_run(agent_key, _coerce(schema, request.POST), request.user)
        except Invalid as exc:
            for error in exc.detail:
                field = error["loc"][1] if len(error["loc"]) > 1 else "__all__"
                errors[field] = error["msg"]
        else:
            messages.success(request, f"Run {run.id} queued.")
            return redirect("run_detail", run_id=run.id)
    return render(
        request,
        "agents/run_start.html",
        {"spec": spec, "fields": _form_fields(schema, values, errors), "form_error": errors.get("__all__", "")},
        status=422 if errors else 200,
    )


def run_context(run: Run, spans: list[Span] | None = None) -> dict[str, Any]:
    if spans is None:
        spans = list(Span.objects.filter(run=run).order_by("seq"))
    return {
        "run": run,
        "run_input": pretty(run.input),
        "run_output": pretty(run.output),
        "rows": span_rows(spans),
        "last_seq": spans[-1].seq if spans else -1,
        "pending": list(run.approval_requests.filter(status="pending").select_related("queue")),
    }


@login_required
def run_detail(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    require(can_read_runs(request.user))
    run = Run.objects.select_related("agent", "created_by").filter(id=run_id).first()
    if run is None:
        raise Http404("run not found")
    return render(request, "agents/run_detail.html", {**run_context(run), "can_cancel": can_start_runs(request.user)})


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
