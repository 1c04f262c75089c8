"""A run's counts and durations mean one thing everywhere: the API, the run page, the runs list,
the dashboard, the trace export and the diff (steps, spans, latency_ms, active_ms, wall_ms)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from agents.engine import runtime
from agents.engine.models import Run
from approvals.services import decide
from tests.support.clients import ClientFor
from tests.support.runs import waiting_refund
from traces.inspection.export import export_run, import_run

pytestmark = pytest.mark.django_db(transaction=True)

WAIT_SECONDS = 0.3

# The run page's waterfall rows: `#` (the span's seq) then `Step`.
# A waterfall row's span number and the step (node execution) it is or is under.
STEP_CELL = re.compile(r'<a id="span-\d+" class="span-row[^"]*" data-seq="(\d+)"[^>]*? data-node="(\d*)"')
RUN_ROW = re.compile(r'<td class="run-wall">([^<]*)</td>')
P50_FIGURE = re.compile(r'id="fig-p50"><article><small[^>]*>[^<]*</small><strong>([^<]*)</strong>')


def _approved_after_a_wait(engineer: Any, reviewer: Any) -> tuple[Run, float]:
    """A gated refund that waits at its gate for WAIT_SECONDS (measured) before it is approved."""
    run, request = waiting_refund(engineer)
    waited_from = time.monotonic()
    time.sleep(WAIT_SECONDS)
    decide(request.id, reviewer, "approve")
    waited_ms = (time.monotonic() - waited_from) * 1000
    assert runtime.execute(run.id) == Run.Status.SUCCEEDED
    run.refresh_from_db()
    return run, waited_ms


def test_counts_and_durations_agree_across_api_pages_and_export(
    engineer: Any, reviewer: Any, api: Any, client_for: ClientFor
) -> None:
    run, waited_ms = _approved_after_a_wait(engineer, reviewer)
    client = api(engineer)
    detail = client.get(f"/api/runs/{run.id}").json()
    totals = detail["totals"]
    spans = client.get(f"/api/runs/{run.id}/steps").json()

    # spans: what /steps returns; steps: node executions (the gated node runs again on resume).
    assert totals["spans"] == len(spans)
    assert totals["steps"] == len([s for s in spans if s["kind"] == "node"]) == 6
    # wall time includes the wait for the reviewer; active time does not.
    assert totals["wall_ms"] >= totals["active_ms"] > 0
    assert totals["wall_ms"] >= waited_ms
    assert totals["active_ms"] == pytest.approx(run.active_seconds * 1000)
    listed = client.get("/api/runs").json()["items"]
    assert [item["totals"] for item in listed if item["id"] == str(run.id)] == [totals]

    # The run page's Step column numbers what totals.steps counts.
    page = client_for(engineer).get(f"/runs/{run.id}/").content.decode()
    step_cells = STEP_CELL.findall(page)
    assert len(step_cells) == totals["spans"]
    assert len({step for _, step in step_cells}) == totals["steps"]
    assert all(step for _, step in step_cells)

    # The runs list shows the same duration as the dashboard's (only finished run's) p50.
    runs_page = client_for(engineer).get("/runs/").content.decode()
    dashboard = client_for(engineer).get("/").content.decode()
    listed_wall = RUN_ROW.findall(runs_page)
    p50 = P50_FIGURE.findall(dashboard)
    assert listed_wall == p50 and len(p50) == 1 and p50[0] != "–"

    # The export carries the same totals, and an import keeps them.
    document = export_run(Run.objects.select_related("agent", "created_by").get(id=run.id))
    assert document["run"]["totals"] == totals
    copy = import_run(document, engineer)
    assert copy.totals == totals

    # The diff page shows them side by side, equal for the run and its copy.
    diff = client_for(engineer).get(f"/runs/{run.id}/diff/{copy.id}/").content.decode()
    for label in ("Steps", "Spans", "Node time", "Active time", "Wall time"):
        shown = re.findall(rf'<th scope="row">{label}</th>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>', diff)
        assert len(shown) == 1 and shown[0][0] == shown[0][1], label


def test_an_old_export_without_the_new_totals_still_imports(engineer: Any, reviewer: Any) -> None:
    run, _ = _approved_after_a_wait(engineer, reviewer)
    document = export_run(Run.objects.select_related("agent", "created_by").get(id=run.id))
    old = {k: v for k, v in document["run"]["totals"].items() if k in ("steps", "tokens_in", "tokens_out", "cost", "latency_ms")}
    document["run"]["totals"] = old
    copy = import_run(document, engineer)
    # Spans are counted from the document's spans; the active time was not exported, so it is unknown (0).
    assert copy.totals["spans"] == len(document["spans"]) and copy.totals["steps"] == run.steps
    assert copy.totals["wall_ms"] == run.totals["wall_ms"]
