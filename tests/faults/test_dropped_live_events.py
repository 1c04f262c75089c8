"""Live events lost on their way to an open run page: the page still ends up showing what the
database holds (its run's status and every span, in order).

The page is the real live consumer behind a websocket test client, on a Redis channel layer
that drops the events we tell it to (console/harness/chaos_pages.py); the run is executed by the real
runtime, whose events come from the real publisher.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from django.db import connections

from agents.engine import runtime
from agents.engine.models import Run
from console.harness.chaos_pages import PageMirror, Pages, database_view, dropping_layer
from console.kernel import live
from tests.support.runs import queued_refund
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]

NEVER = 3600.0  # a catch-up check that does not happen within the test


def _execute(run_id: uuid.UUID) -> None:
    """What a worker does with the run, on a thread of its own."""

    def work() -> None:
        try:
            runtime.execute(run_id)
        finally:
            connections.close_all()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(60)
    assert Run.objects.get(id=run_id).status == "succeeded"


def _shows_database(mirror: PageMirror) -> bool:
    return mirror.matches(*database_view([mirror.run_id])[mirror.run_id])


def _publisher_done(group: str, quiet: float = 0.5) -> None:
    """Wait until the run's events (numbered as they are sent) have stopped coming."""
    last, since = live.current_seq(group), time.monotonic()
    while time.monotonic() - since < quiet:
        time.sleep(0.05)
        if live.current_seq(group) != last:
            last, since = live.current_seq(group), time.monotonic()


def test_a_page_that_loses_every_event_catches_up_from_the_database(engineer: Any) -> None:
    """No event reaches the page, and none comes after the run ends to reveal a gap: the
    consumer's periodic check sees the group's number has moved and re-reads the database."""
    run = queued_refund(engineer, 40)
    group = live.run_group(run.id)
    with dropping_layer(1.0, "all") as layer, Pages(engineer, catch_up_seconds=0.3) as pages:
        page = pages.open(run.id)
        assert (page.status, page.span_seqs) == ("queued", [])
        _execute(run.id)
        _publisher_done(group)
        wait_for(lambda: _shows_database(page), timeout=10)
        assert layer.dropped[group] and not layer.delivered[group]
        assert page.status == "succeeded" and len(page.span_seqs) == Run.objects.get(id=run.id).spans.count() > 0


def test_a_later_event_after_lost_ones_redraws_the_whole_page(engineer: Any) -> None:
    """Events are lost, then one arrives: its number shows the gap and the page gets everything."""
    run = queued_refund(engineer, 40)
    group = live.run_group(run.id)
    with dropping_layer(1.0, "all") as layer, Pages(engineer, catch_up_seconds=NEVER) as pages:
        page = pages.open(run.id)
        _execute(run.id)
        _publisher_done(group)
        assert not _shows_database(page)  # stale: nothing arrived
        layer.drop = 0.0
        live.publish_now(group, {"kind": "spans", "run_id": str(run.id)})
        wait_for(lambda: _shows_database(page), timeout=10)
        assert layer.delivered[group] == {max(layer.dropped[group]) + 1}


def test_a_reconnected_page_shows_everything_it_missed(engineer: Any) -> None:
    """The browser reconnects (as htmx's websocket extension does after a lost connection): the
    first render of the new connection is the database's whole state."""
    run = queued_refund(engineer, 40)
    group = live.run_group(run.id)
    with dropping_layer(1.0, "all"), Pages(engineer, catch_up_seconds=NEVER) as pages:
        page = pages.open(run.id)
        _execute(run.id)
        _publisher_done(group)
        assert not _shows_database(page)
        page = pages.reconnect(run.id)
        wait_for(lambda: _shows_database(page), timeout=10)
