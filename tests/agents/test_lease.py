"""The lease is checked in every step's transaction: a run that stops being ours writes nothing more."""

from __future__ import annotations

from typing import Any

import pytest

from agents.engine import runtime
from agents.engine.checkpointer import checkpointer
from agents.engine.models import Run
from agents.engine.services import start_run
from traces.recording.models import Span

pytestmark = pytest.mark.django_db(transaction=True)


def test_run_cancelled_while_running_stops_at_its_next_write(engineer: Any) -> None:
    """The step that was running when the run was cancelled is rolled back with its spans,
    the next node never runs, and the run stays cancelled."""
    run = start_run("cancelled_midway", {}, engineer)
    assert runtime.execute(run.id) is None
    run.refresh_from_db()
    assert run.status == "cancelled" and run.output is None
    assert not Span.objects.filter(run=run).exists()
    with checkpointer() as saver:
        latest = saver.get_tuple({"configurable": {"thread_id": run.thread_id, "checkpoint_ns": ""}})
    # Only the input checkpoint was saved: the cancelled step's own checkpoint was refused.
    assert latest is not None and latest.checkpoint["channel_values"].get("log") in (None, [])


def test_a_run_someone_else_holds_is_not_claimed(engineer: Any) -> None:
    """A second claim of a running run fails: one worker at a time."""
    run = start_run("known", {"topic": "t"}, engineer)
    assert Run.claim(run.id, "first-worker") is not None
    assert Run.claim(run.id, "second-worker") is None
    assert runtime.execute(run.id) is None
    assert Run.objects.get(id=run.id).lease_owner == "first-worker"
