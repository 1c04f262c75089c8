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


# The lease is checked at each write, or renewed once half of it is gone: with a lease of 0
# seconds every write renews it, so both statements are exercised.
@pytest.mark.parametrize("lease_seconds", [300, 0], ids=["checked", "renewed"])
def test_run_cancelled_while_running_stops_at_its_next_write(engineer: Any, settings: Any, lease_seconds: int) -> None:
    """The step that was running when the run was cancelled is rolled back with its spans,
    the next node never runs, and the run stays cancelled."""
    settings.STEWARD_LEASE_SECONDS = lease_seconds
    run = start_run("cancelled_midway", {}, engineer)
    assert runtime.execute(run.id) is None
    run.refresh_from_db()
    assert run.status == "cancelled" and run.output is None
    assert not Span.objects.filter(run=run).exists()
    with checkpointer() as saver:
        latest = saver.get_tuple({"configurable": {"thread_id": run.thread_id, "checkpoint_ns": ""}})
    # Only the input checkpoint was saved: the cancelled step's own checkpoint was refused.
    assert latest is not None and latest.checkpoint["channel_values"].get("log") in (None, [])


def test_a_run_renewing_its_lease_at_every_write_finishes_with_every_span(engineer: Any, settings: Any) -> None:
    """Renewing the lease is a write that succeeds while the run is ours: nothing is refused."""
    settings.STEWARD_LEASE_SECONDS = 0
    run = start_run("known", {"topic": "t"}, engineer)
    assert runtime.execute(run.id) == "succeeded"
    run.refresh_from_db()
    assert run.span_count == Span.objects.filter(run=run).count() > 0
    assert run.active_seconds > 0


def test_a_run_someone_else_holds_is_not_claimed(engineer: Any) -> None:
    """A second claim of a running run fails: one worker at a time."""
    run = start_run("known", {"topic": "t"}, engineer)
    assert Run.claim(run.id, "first-worker") is not None
    assert Run.claim(run.id, "second-worker") is None
    assert runtime.execute(run.id) is None
    assert Run.objects.get(id=run.id).lease_owner == "first-worker"
