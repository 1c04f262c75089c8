"""Runs queued behind their thread (agents/engine/thread_queue.py): however many processes see
the run ahead end at once, the next queued run starts once, and only the oldest."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from agents.engine import thread_queue
from agents.engine.models import Agent, Run
from agents.engine.registry import sync_agents

pytestmark = pytest.mark.django_db(transaction=True)


def _run(engineer: Any, **fields: Any) -> Run:
    sync_agents()
    return Run.objects.create(
        agent=Agent.objects.get(key="order_summary"), thread_id="shared", input={"customer_id": "C-9"}, created_by=engineer, **fields
    )


def test_the_next_run_starts_once_when_many_see_the_run_ahead_end(purge_broker: None, broker_purged_after: None, engineer: Any) -> None:
    ahead = _run(engineer, status="running")
    first = _run(engineer, waits_for_thread=True)
    second = _run(engineer, waits_for_thread=True)
    assert thread_queue.start_next("shared") is None  # the run ahead is still running
    Run.objects.filter(id=ahead.id).update(status="succeeded")

    started: list[Any] = []
    barrier = threading.Barrier(4)

    def finish_seen() -> None:
        try:
            barrier.wait()
            started.append(thread_queue.start_next("shared"))
        finally:
            connection.close()

    threads = [threading.Thread(target=finish_seen) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [s for s in started if s is not None] == [first.id]
    assert not Run.objects.get(id=first.id).waits_for_thread and Run.objects.get(id=second.id).waits_for_thread
    # A run created now queues behind the two.
    assert thread_queue.must_wait("shared")
