"""Logs are JSON lines (structlog) that name the run, its trace and the span they came from."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest

from agents.engine import runtime
from agents.engine.models import Run
from agents.engine.services import start_run
from tests.support.logs import json_log_lines
from traces.recording.models import Span

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def json_lines() -> Iterator[StringIO]:
    """The JSON formatter settings install, on a handler of the root logger writing to a buffer;
    the recorder's debug lines switched on."""
    with json_log_lines({"traces.recording.recorder": logging.DEBUG}) as stream:
        yield stream


def _parsed(stream: StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_failed_run_logs_a_json_line_with_run_and_trace(engineer: Any, json_lines: StringIO) -> None:
    """The runtime's warning about a failed stock_check run is one JSON object naming the run
    and its trace (a first run is its own root)."""
    run = start_run("stock_check", {"sku": "BROKEN-7"}, engineer)
    assert runtime.execute(run.id) == "failed"

    lines = _parsed(json_lines)
    failed = [entry for entry in lines if entry.get("logger") == "agents.engine.runtime"]
    assert len(failed) == 1
    entry = failed[0]
    assert entry["level"] == "warning" and f"run {run.id} failed" in entry["event"]
    assert entry["run_id"] == str(run.id) and entry["trace_id"] == str(run.id)
    assert entry["timestamp"].endswith("Z")


def test_span_lines_name_their_span_and_nothing_leaks_after_the_run(engineer: Any, json_lines: StringIO) -> None:
    """Every span of a run logs a line with its span id; once execute returns, lines carry no run."""
    run = start_run("stock_check", {"sku": "SKU-7"}, engineer)
    assert runtime.execute(run.id) == "succeeded"
    logging.getLogger("tests.after").warning("after the run")

    lines = _parsed(json_lines)
    spans = [entry for entry in lines if entry.get("logger") == "traces.recording.recorder"]
    assert {entry["span_id"] for entry in spans} == {str(s) for s in Span.objects.filter(run=run).values_list("id", flat=True)}
    assert all(entry["run_id"] == str(run.id) and entry["trace_id"] == str(run.id) for entry in spans)
    assert {entry["span_kind"] for entry in spans} == {"node", "model", "tool"}
    after = next(entry for entry in lines if entry["event"] == "after the run")
    assert "run_id" not in after and "span_id" not in after and "trace_id" not in after


def test_replay_lines_carry_the_root_run_as_trace(engineer: Any, json_lines: StringIO, purge_broker: None) -> None:
    """A replay's lines name the replay as run and the original as trace. (Live: a recorded replay
    is a copy of the original's spans, no node runs and nothing is logged for them.)"""
    from traces.inspection.replay import replay

    original = start_run("stock_check", {"sku": "SKU-3"}, engineer)
    assert runtime.execute(original.id) == "succeeded"
    copy = replay(Run.objects.get(id=original.id), engineer, mode="live")
    json_lines.truncate(0)
    json_lines.seek(0)
    assert runtime.execute(copy.id) == "succeeded"

    spans = [entry for entry in _parsed(json_lines) if entry.get("logger") == "traces.recording.recorder"]
    assert spans and all(e["run_id"] == str(copy.id) and e["trace_id"] == str(original.id) for e in spans)
