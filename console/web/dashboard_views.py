"""The home page: the dashboard for those who read runs, a "no role yet" page for everyone else."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

# The runs list shows a run's wall time with the same function (agents/web/durations.py).
from agents.web.durations import format_seconds
from approvals.models import ApprovalRequest
from console.kernel.roles import REVIEWERS, can_read_runs, can_start_runs, has_role
from console.web import dashboard as figures

__all__ = ["dashboard", "format_cost", "format_seconds"]


def format_cost(cost: float) -> str:
    """USD; model calls cost fractions of a cent, so small sums keep four decimals."""
    return f"${cost:,.2f}" if cost >= 1 else f"${cost:.4f}"


CIRCUIT_LABELS = {"closed": "closed", "half_open": "half-open", "open": "open"}
# The run status colours: closed reads as fine, half-open as waiting, open as failing.
CIRCUIT_CLASSES = {"closed": "ok", "half_open": "pending", "open": "error"}


def _percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.1f} %"


def _chart_data(data: dict[str, Any]) -> dict[str, Any]:
    """What the page's script draws: labels, series and the links a click follows (no run rows)."""
    return {
        "labels": [b["label"] for b in data["buckets"]],
        "series": data["series"],
        "agents": [{"name": a["name"], "series": a["series"]} for a in data["agents"]],
        "models": [{"name": m["name"] or "(unnamed)", "series": m["series"]} for m in data["models"]],
        "decisions": {
            "decided": data["approvals"]["decided_by_bucket"],
            "median_seconds": data["approvals"]["median_by_bucket"],
        },
        "links": data["links"],
    }


def _shown(data: dict[str, Any]) -> dict[str, str]:
    """The headline figures as the page prints them."""
    runs, decisions = data["runs"], data["approvals"]
    return {
        "runs": f"{runs['total']:,}",
        "error_rate": _percent(runs["error_rate"]),
        "p50": format_seconds(runs["p50_seconds"]),
        "p95": format_seconds(runs["p95_seconds"]),
        "tokens": f"{runs['tokens_in'] + runs['tokens_out']:,}",
        "cost": format_cost(runs["cost"]),
        "pending": f"{decisions['pending']:,}",
        "median_decision": format_seconds(decisions["median_decision_seconds"]),
    }


def _label_rows(data: dict[str, Any], operations: dict[str, Any]) -> None:
    """Give the agent and model rows their cost as text and their runs link, and each circuit
    breaker its state's label and colour."""
    for kind in ("agents", "models"):
        for row in data[kind]:
            row["cost_shown"] = format_cost(row["cost"])
            row["url"] = data["links"][kind].get(row["name"])
    for row in operations["circuits"]:
        row["state_label"] = CIRCUIT_LABELS.get(row["state"], row["state"])
        row["state_class"] = CIRCUIT_CLASSES.get(row["state"], "")


@login_required
@require_safe
def dashboard(request: HttpRequest) -> HttpResponse:
    """Runs, errors, durations, tokens, cost and approvals over `?window=` (24h, 7d or 30d)."""
    user = request.user
    if not can_read_runs(user):
        return render(request, "console/home.html")
    window = figures.get_window(request.GET.get("window"))
    is_reviewer = has_role(user, REVIEWERS)
    # A reviewer's approval figures are those of the queues they review, the same requests the
    # /approvals/ link lists; others (who cannot open that list) see every queue's.
    approvals = ApprovalRequest.objects.visible_to(user) if is_reviewer else None
    data = figures.dashboard(window, approvals=approvals)
    # Circuit breakers and the dead-letter count: the state now, whatever the window.
    operations = figures.operations()
    _label_rows(data, operations)
    return render(
        request,
        "console/dashboard.html",
        {
            "data": data,
            "shown": _shown(data),
            "chart_data": _chart_data(data),
            "window": window,
            "windows": figures.WINDOWS.values(),
            "is_reviewer": is_reviewer,
            "operations": operations,
            "can_start_runs": can_start_runs(user),
        },
    )
