"""The chaos report's "runs hit": which runs in flight at a kill lost their execution."""

from __future__ import annotations

import uuid

from console.harness.chaos import Tracker

KILL_AT = 100.0
NOT_BEFORE = KILL_AT + 1.5  # half of a 3 s lease


def _tracker(*seen: tuple[float, str, int]) -> tuple[Tracker, uuid.UUID]:
    tracker = Tracker("batch")
    run_id = uuid.uuid4()
    tracker.history[run_id] = [(99.0, "running", 1), *seen]
    return tracker, run_id


def test_a_reclaim_after_the_lease_is_a_hit_even_when_first_seen_stopped() -> None:
    """The re-claimed execution is `running` for ~50 ms: the tracker may first see it waiting."""
    for status in ("running", "waiting", "succeeded"):
        tracker, run_id = _tracker((103.2, status, 2))
        assert tracker.claimed_again_after(run_id, KILL_AT, 1, NOT_BEFORE), status


def test_a_run_that_went_on_or_resumed_quickly_was_not_hit() -> None:
    tracker, run_id = _tracker((100.05, "waiting", 1), (103.0, "running", 2))
    assert not tracker.claimed_again_after(run_id, KILL_AT, 1, NOT_BEFORE)
    # Its waiting state missed, a resume's claim 0.2 s after the kill: not a lost execution.
    tracker, run_id = _tracker((100.2, "running", 2))
    assert not tracker.claimed_again_after(run_id, KILL_AT, 1, NOT_BEFORE)
    tracker, run_id = _tracker()
    assert not tracker.claimed_again_after(run_id, KILL_AT, 1, NOT_BEFORE)
