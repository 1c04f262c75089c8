"""What the run page shows: the run, its header and output, and its waterfall rows.

Shared by the page views (agents/web/views.py) and the live consumer (console/web/consumers.py): both
build the context here and render the same partials with it, so a page and its live updates
always agree.

The page draws the first rows of the waterfall (in tree order) as HTML, so it reads without
JavaScript; static/console/run-page.js then loads every row from `GET /api/runs/{id}/steps`
(keyset pages, without payloads) and draws only those in view.
"""

from __future__ import annotations

import uuid
from typing import Any

from agents.engine.models import Run
from console.kernel.pages import pretty
from console.kernel.roles import can_start_runs
from traces.inspection.tracebacks import fold_traceback
from traces.inspection.waterfall import (
    WaterfallRow,
    failing_span,
    payload_view,
    state_diff,
    waterfall,
    waterfall_page,
)
from traces.recording.models import Span

# Waterfall rows the server draws per page (the browser draws the rest as they scroll into view).
SPAN_PAGE = 100
# Characters of the run's output and traceback a page or a live fragment carries: the whole of
# them is in the API, and a live fragment must stay far below the websocket's 1 MiB.
OUTPUT_CHARS = 20_000
TRACEBACK_CHARS = 12_000
# Runs offered by "Compare with…".
COMPARE_CHOICES = 15


def run_for_page(run_id: uuid.UUID) -> Run | None:
    """The run with what its header shows (agent, starter), or None."""
    return Run.objects.select_related("agent", "created_by").filter(id=run_id).first()


def spans_after(run: Run, after: int, limit: int | None = None) -> list[Span]:
    """The run's spans numbered after `after`, in order, at most `limit` of them (all for None).
    Without their payloads: the waterfall does not show them, and a span loads them when opened."""
    spans = Span.objects.filter(run=run, seq__gt=after).order_by("seq").defer("input", "output")
    return list(spans if limit is None else spans[:limit])


def spans_up_to(run: Run, seq: int) -> int:
    """How many of the run's spans are numbered up to `seq`: more than a page was sent means a
    span committed after later ones (the tasks of a fan-out step each commit as they finish)."""
    return Span.objects.filter(run=run, seq__lte=seq).count()


def last_seq(run: Run) -> int:
    """The number of the run's latest span (-1 without spans)."""
    found = Span.objects.filter(run=run).order_by("-seq").values_list("seq", flat=True).first()
    return -1 if found is None else found


def span_rows(spans: list[Span], run: Run | None = None) -> list[WaterfallRow]:
    """Light rows for the waterfall; payloads load when a span is opened."""
    if not spans:
        return []
    return waterfall(run or spans[0].run, spans)


def span_page(run: Run, after: int | None) -> dict[str, Any]:
    """One page of waterfall rows in tree order after the span numbered `after` (`_span_page.html`)."""
    rows, next_after = waterfall_page(run, after, SPAN_PAGE)
    return {"rows": rows, "more_spans": next_after is not None, "next_after": next_after}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n… ({len(text) - limit} more characters in the API)"


def run_error(run: Run) -> dict[str, Any] | None:
    """A failed run's error for the header: the message, the project's frames, the rest folded."""
    if not run.error:
        return None
    folded = fold_traceback(run.error_traceback, message=run.error)
    return {
        "message": folded.message,
        "project_frames": folded.project_frames[-8:],
        "library_count": folded.library_count,
        "traceback": _clip(run.error_traceback, TRACEBACK_CHARS),
    }


def run_context(run: Run, user: Any, spans: list[Span] | None = None, after: int | None = None) -> dict[str, Any]:
    """The context of the run page's live parts (`_run_header.html`, `_run_output.html`,
    `_span_list.html`): with `spans` None, a page of the waterfall in tree order (after the
    span numbered `after`); else rows for exactly those spans (what the live consumer sends)."""
    if spans is None:
        rows = span_page(run, after)
    else:
        rows = {"rows": span_rows(spans, run), "more_spans": False, "next_after": None}
    pending = list(run.approval_requests.filter(status="pending").select_related("queue"))
    return {
        "run": run,
        "run_input": _clip(pretty(run.input), OUTPUT_CHARS),
        "run_output": _clip(pretty(run.output), OUTPUT_CHARS),
        "run_error": run_error(run),
        "span_last_seq": last_seq(run),
        **rows,
        "pending": pending,
        # The requests the viewer, who started the run, may answer themselves (a question to them).
        "asked_ids": {request.id for request in pending if request.is_put_to(user)},
        "can_cancel": can_start_runs(user),
    }


def span_context(run: Run, span: Span) -> dict[str, Any]:
    """One span's panel (`_span_detail.html`): payloads, its error folded, the state it saved."""
    return {
        "run": run,
        "span": span,
        "input": payload_view(span.input),
        "output": payload_view(span.output),
        "error": fold_traceback(span.error) if span.error else None,
        "diff": state_diff(run, span),
    }


def selected_span(run: Run, span_id: str) -> Span | None:
    """The span `?span=<id>` names; without one, a failed run's failing span."""
    spans = Span.objects.filter(run=run).select_related("prompt_version__prompt")
    if span_id:
        try:
            return spans.filter(id=uuid.UUID(span_id)).first()
        except ValueError:
            return None
    if run.status == Run.Status.FAILED:
        found = failing_span(run)
        return spans.filter(id=found.id).first() if found else None
    return None


def compare_choices(run: Run) -> list[Run]:
    """Recent runs of the same agent, for "Compare with…" (no UUID to paste)."""
    return list(
        Run.objects.filter(agent_id=run.agent_id)
        .exclude(id=run.id)
        .order_by("-created_at")
        .only("id", "status", "created_at", "steps")[:COMPARE_CHOICES]
    )
