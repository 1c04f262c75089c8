"""The diff page: two runs step by step, side by side, with the first divergence in view."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from agents.engine.models import Run
from console.kernel.pages import pretty, require
from console.kernel.roles import can_read_runs
from traces.inspection.diff import diff_runs
from traces.recording.models import Span

__all__ = ["OUTPUT_CHARS", "clip", "run_diff"]

# How much of each side's output a row shows (the span page has the whole of it).
OUTPUT_CHARS = 20_000

# The totals' meanings are the Run model's: steps are node executions, spans every recorded span;
# node time is latency_ms, active time the workers' time, wall time first claim to finish.
TOTALS = (
    ("status", "Status"), ("steps", "Steps"), ("spans", "Spans"), ("tokens", "Tokens (in / out)"), ("cost", "Cost"),
    ("latency_ms", "Node time"), ("active_ms", "Active time"), ("wall_ms", "Wall time"),
)
DURATIONS = ("latency_ms", "active_ms", "wall_ms")


def clip(value: Any, limit: int = OUTPUT_CHARS) -> str:
    """`value` as pretty JSON (or its text), cut to `limit` characters with a note when longer."""
    text = pretty(value)
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… ({len(text) - limit} more characters; open the span for the whole output)"


def _run_or_404(run_id: uuid.UUID) -> Run:
    run = Run.objects.select_related("agent", "created_by").filter(id=run_id).first()
    if run is None:
        raise Http404("run not found")
    return run


def _totals_rows(totals: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The totals as (label, A, B, same) rows for a two-column table."""

    def shown(side: dict[str, Any], key: str) -> str:
        if key == "tokens":
            return f"{side['tokens_in']} / {side['tokens_out']}"
        if key == "cost":
            return f"${side['cost']:.4f}"
        if key in DURATIONS:
            return "–" if side[key] is None else f"{side[key] / 1000:.2f} s"
        return str(side[key])

    rows = []
    for key, label in TOTALS:
        a, b = shown(totals["a"], key), shown(totals["b"], key)
        rows.append({"key": key, "label": label, "a": a, "b": b, "same": a == b})
    return rows


def _side_view(side: dict[str, Any] | None) -> dict[str, Any] | None:
    if side is None:
        return None
    return {**side, "text": clip(side["output"]), "error_text": clip(side["error"]) if side["error"] else ""}


def _compare_with(other: str) -> tuple[uuid.UUID | None, str]:
    """The compare form's `?with=`: the run to diff with, or why there is none."""
    try:
        other_id = uuid.UUID(other)
    except ValueError:
        return None, f"{other!r} is not a run id."
    if Run.objects.filter(id=other_id).exists():
        return other_id, ""
    return None, f"No run {other_id}."


def _rows(diff: dict[str, Any]) -> list[dict[str, Any]]:
    """The diff's rows numbered, the first divergence marked, each side's output clipped."""
    return [
        {
            **row,
            "number": index + 1,
            "first": index == diff["first_divergence"],
            "a": _side_view(row["a"]),
            "b": _side_view(row["b"]),
            "is_node": row["kind"] == Span.Kind.NODE,
        }
        for index, row in enumerate(diff["rows"])
    ]


@login_required
@require_GET
def run_diff(request: HttpRequest, a: uuid.UUID, b: uuid.UUID) -> HttpResponse:
    """Run A and run B aligned by step: totals, then one row per span with both outputs.

    `?with=<run id>` (the compare form) goes to the diff of A with that run instead.
    """
    require(can_read_runs(request.user))
    run_a, run_b = _run_or_404(a), _run_or_404(b)
    compare_error = ""
    # The typed run id, else the recent run chosen in the list.
    other = request.GET.get("with", "").strip() or request.GET.get("recent", "").strip()
    if other:
        other_id, compare_error = _compare_with(other)
        if other_id is not None:
            return redirect("run_diff", a=run_a.id, b=other_id)
    diff = diff_runs(run_a, run_b)
    rows = _rows(diff)
    context = {
        "run_a": run_a,
        "run_b": run_b,
        "b_is_replay_of_a": run_b.parent_run_id == run_a.id,
        "totals": _totals_rows(diff["totals"]),
        "rows": rows,
        "first": rows[diff["first_divergence"]] if diff["first_divergence"] is not None else None,
        "inherited_count": sum(1 for r in rows if r["inherited"]),
        # "No divergence" is only said when the totals agree too (time aside: two runs never take the same).
        "totals_differ": [t for t in _totals_rows(diff["totals"]) if not t["same"] and t["key"] not in DURATIONS],
        "compare_choices": list(
            Run.objects.filter(agent_id=run_a.agent_id).exclude(id__in=[run_a.id, run_b.id])
            .order_by("-created_at").only("id", "status", "created_at", "steps")[:15]
        ),
        "compare_error": compare_error,
        "compare_value": other,
    }
    return render(request, "traces/diff.html", context, status=422 if compare_error else 200)
