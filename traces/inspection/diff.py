"""Comparing two runs step by step: aligned spans, the first divergence, totals side by side."""

from __future__ import annotations

from typing import Any

from agents.engine.models import Run
from traces.recording.models import Span

__all__ = ["diff_runs"]


def _side(span: Span | None) -> dict[str, Any] | None:
    if span is None:
        return None
    return {
        "seq": span.seq, "status": span.status, "output": span.output, "error": span.error,
        "latency_ms": span.latency_ms, "tokens_in": span.tokens_in, "tokens_out": span.tokens_out, "cost": span.cost,
    }


def _keyed(run: Run) -> dict[tuple[int, str, str, int], Span]:
    spans: dict[tuple[int, str, str, int], Span] = {}
    counts: dict[tuple[int, str, str], int] = {}
    # Paused spans belong to a wait for approval, not to what the step did.
    for span in Span.objects.filter(run=run).exclude(status=Span.Status.PAUSED).order_by("seq"):
        base = (span.step if span.step is not None else -1, span.kind, span.name)
        index = counts.get(base, 0)
        counts[base] = index + 1
        spans[(*base, index)] = span
    return spans


def _totals(run: Run) -> dict[str, Any]:
    return {"status": run.status, **run.totals}


def diff_runs(a: Run, b: Run) -> dict[str, Any]:
    """Spans aligned by (step, kind, name, occurrence). Steps a replay inherited from its source
    (before its from_step) are marked `inherited`, not divergent.

    Returns:
        {"a", "b", "totals": {"a", "b"}, "rows": [...], "first_divergence": index or None}
    """
    left, right = _keyed(a), _keyed(b)
    replay = (b.metadata or {}).get("replay") or {}
    inherited_before = replay.get("from_step") if replay.get("source_run_id") == str(a.id) else None
    keys = sorted(set(left) | set(right), key=lambda k: (k[0], min(
        (left[k].seq if k in left else 10**9), (right[k].seq if k in right else 10**9)
    )))
    rows: list[dict[str, Any]] = []
    first = None
    for key in keys:
        span_a, span_b = left.get(key), right.get(key)
        inherited = inherited_before is not None and key[0] < inherited_before and span_b is None
        same = inherited or (
            span_a is not None and span_b is not None
            and span_a.status == span_b.status and span_a.output == span_b.output
        )
        if not same and first is None:
            first = len(rows)
        rows.append({
            "step": key[0], "kind": key[1], "name": key[2], "occurrence": key[3],
            "a": _side(span_a), "b": _side(span_b), "same": same, "inherited": inherited,
        })
    return {
        "a": str(a.id), "b": str(b.id), "totals": {"a": _totals(a), "b": _with_inherited(_totals(b), rows)},
        "rows": rows, "first_divergence": first,
    }


def _with_inherited(totals: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A replay's own totals count only what it ran; the steps it inherited from the original are
    part of it too, so they are added (otherwise every replay from a step would differ in totals)."""
    inherited = [row["a"] for row in rows if row["inherited"] and row["a"] is not None]
    if not inherited:
        return totals
    return {
        **totals,
        "steps": totals["steps"] + len({row["step"] for row in rows if row["inherited"]}),
        "spans": totals["spans"] + len(inherited),
        "tokens_in": totals["tokens_in"] + sum(side["tokens_in"] or 0 for side in inherited),
        "tokens_out": totals["tokens_out"] + sum(side["tokens_out"] or 0 for side in inherited),
        "cost": totals["cost"] + sum(side["cost"] or 0 for side in inherited),
    }
