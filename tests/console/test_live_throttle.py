"""Live span events: at most one per run per interval, and never a span left unannounced."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from agents.engine.runtime import LIVE_SPAN_INTERVAL, StepWriter
from console.harness.live_latency import latencies
from console.kernel import live
from traces.recording.recorder import SpanRecorder


def _committed(writer: StepWriter, spans: bool = True) -> None:
    # What the checkpointer does around each step's transaction, without the database.
    writer._committing_spans = spans
    writer.after_commit()


def _wait_for_seq(group: str, at_least: int, timeout: float = 5.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if live.current_seq(group) >= at_least:
            return live.current_seq(group)
        time.sleep(0.01)
    return live.current_seq(group)


def _listen(group: str) -> str:
    """A page's part: a channel in the run's group."""
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group, channel)
    return str(channel)


def test_a_burst_gets_one_event_now_and_one_trailing_event() -> None:
    run_id = uuid.uuid4()
    group = live.run_group(run_id)
    _listen(group)
    start = live.current_seq(group)
    writer = StepWriter(run_id=run_id, lease_owner="test", recorder=SpanRecorder(), lease_seconds=60)

    _committed(writer)
    assert _wait_for_seq(group, start + 1) == start + 1
    for _ in range(5):
        _committed(writer)  # inside the interval: held back, not dropped
    time.sleep(LIVE_SPAN_INTERVAL * 4)
    assert _wait_for_seq(group, start + 2) == start + 2

    _committed(writer, spans=False)  # a step that wrote no span announces nothing
    time.sleep(LIVE_SPAN_INTERVAL * 4)
    assert live.current_seq(group) == start + 2


def test_a_group_nobody_is_in_gets_no_event(settings: Any) -> None:
    """With the Redis layer, an event for a group with no page in it is not sent (and takes no
    number); once a page joins, events reach it."""
    if not settings.CHANNEL_LAYER_URL:
        pytest.skip("the in-process layer sends to whoever is in the group, at no cost")
    run_id = uuid.uuid4()
    group = live.run_group(run_id)
    live.publish_now(group, {"kind": "spans"})
    live.publish_now(live.run_group(uuid.uuid4()), {"kind": "spans"})  # the publisher has moved on
    time.sleep(LIVE_SPAN_INTERVAL * 4)
    assert live.current_seq(group) == 0
    channel = _listen(group)
    live.publish_now(group, {"kind": "spans"})
    message = async_to_sync(get_channel_layer().receive)(channel)
    assert message["seq"] == 1 and message["kind"] == "spans"


def test_latency_counts_only_spans_finished_after_the_page_connected() -> None:
    spans = [(0, 1000.0), (1, 2000.0), (2, 3000.0)]
    seen = {"0": 2500.0, "1": 2040.0, "2": 3010.0}
    assert latencies(spans, seen, after_ms=1500.0) == [40.0, 10.0]
    assert latencies(spans, {"1": 2040.0}, after_ms=0.0) == [40.0]


def test_commits_a_held_event_covers_do_not_wake_the_publisher(monkeypatch: pytest.MonkeyPatch) -> None:
    """Within the interval only the first commit after the event sent at once is submitted (the
    publisher holds it and sends it after every commit of the interval); the rest are covered by
    it. Once that event has gone out, the next commit is submitted again."""
    submitted: list[float] = []
    monkeypatch.setattr(live, "publish_throttled", lambda group, event, interval: submitted.append(time.monotonic()))
    writer = StepWriter(run_id=uuid.uuid4(), lease_owner="test", recorder=SpanRecorder(), lease_seconds=60)
    for _ in range(6):
        _committed(writer)
    assert len(submitted) == 2  # the event at once, and the one held until the interval ends
    assert writer._trailing_due is not None and writer._trailing_due >= submitted[-1]
    time.sleep(LIVE_SPAN_INTERVAL * 1.5)
    _committed(writer)  # after the held event went out: submitted (and held again)
    _committed(writer)
    assert len(submitted) == 3
    time.sleep(LIVE_SPAN_INTERVAL * 2.5)
    _committed(writer)  # a whole interval after anything was sent: submitted, sent at once
    assert len(submitted) == 4 and writer._trailing_due is None
