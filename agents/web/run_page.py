"""What the run page shows: the run, its header and output, and its waterfall rows.

Shared by the page views (agents/web/views.py) and the live consumer (console/web/consumers.py): both
build the context here and render the same partials with it, so a page and its live updates
always agree.
"""

from __future__ import annotations

import uuid
from typing import Any

from agents.engine.models import Run
from console.kernel.pages import pretty
from console.kernel.roles import can_start_runs
from traces.inspection.waterfall import WaterfallRow, waterfall
from traces.recording.models import Span

# Waterfall rows per page load; the rest load as the reader scrolls (agents.web.views.run_spans).
SPAN_PAGE = 500


def run_for_page(run_id: uuid.UUID) -> Run | None:
    """The run with what its header shows (agent, starter), or None."""
    return Run.objects.select_related("agent", "created_by").filter(id=run_id).first()


def spans_after(run: Run, after: int, limit: int | None = None) -> list[Span]:
    """The run's spans numbered after `after`, in order, at most `limit` of them (all for None).
    Without their payloads: the waterfall does not show them, and a span loads them when opened."""
    spans = Span.objects.filter(run=run, seq__gt=after).order_by("seq").defer("input", "output")
    return list(spans if limit is None else spans[:limit])


def span_rows(spans: list[Span], run: Run | None = None) -> list[WaterfallRow]:
    """Light rows for the waterfall; payloads load when a span is opened."""
    if not spans:
        return []
    return waterfall(run or spans[0].run, spans)


def span_page(run: Run, after: int) -> dict[str, Any]:
    """One page of waterfall rows after `after`, and whether more follow (`_span_page.html`)."""
    spans = spans_after(run, after, SPAN_PAGE + 1)
    more = len(spans) > SPAN_PAGE
    spans = spans[:SPAN_PAGE]
    return {"rows": span_rows(spans, run), "more_spans": more, "last_seq": spans[-1].seq if spans else after}


def run_context(run: Run, user: Any, spans: list[Span] | None = None) -> dict[str, Any]:
    """The context of the run page's live parts (`_run_header.html`, `_run_output.html`,
    `_span_list.html`): with `spans` None, the first page of the waterfall; else rows for
    exactly those spans (what the live consumer has not sent yet)."""
    if spans is None:
        rows = span_page(run, -1)
    else:
        rows = {"rows": span_rows(spans, run), "more_spans": False, "last_seq": spans[-1].seq if spans else -1}
    return {
        "run": run,
        "run_input": pretty(run.input),
        "run_output": pretty(run.output),
        **rows,
        "pending": list(run.approval_requests.filter(status="pending").select_related("queue")),
        "can_cancel": can_start_runs(user),
    }
