"""Runs queued behind their thread (the LangGraph API's `multitask_strategy=enqueue`): a run
created while its thread has an active run waits, unsent and unclaimable (`Run.waits_for_thread`),
and starts when the runs ahead of it have ended: succeeded, failed or cancelled. A run waiting for
a person keeps its thread: starting the next run would move the thread's state past an interrupt a
reviewer has not answered (docs/langgraph-api.md, "multitask_strategy").

Nothing is kept in memory: any web process queues, any worker (or the sweeper) starts the next.
Whoever queues or starts takes the thread's lock first (a transaction-scoped advisory lock on
Postgres; SQLite serializes writers), so a run ending while another is being queued behind it
either sees the queued run or is seen by it, and each queued run starts once."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.db import connection, transaction
from django.db.models import Q

from agents.engine.models import Run
from agents.engine.run_queue import send_run
from console.kernel import live

__all__ = ["lock_thread", "must_wait", "on_run_stopped", "start_next", "start_waiting_runs"]

log = logging.getLogger(__name__)

# The first key of the two-key advisory lock: thread locks never meet the audit log's one-key lock.
_THREAD_LOCK_SPACE = 0x5757


def lock_thread(thread_id: str) -> None:
    """Lock the thread's queue until the transaction ends."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_THREAD_LOCK_SPACE, thread_id])


def _ahead(thread_id: str) -> Any:
    """The thread's runs a new run would queue behind: active ones, and those already queued."""
    return Run.objects.filter(thread_id=thread_id, status__in=Run.ACTIVE)


def must_wait(thread_id: str) -> bool:
    """Whether a run created now on the thread queues behind others (call under `lock_thread`)."""
    return _ahead(thread_id).exists()


def start_next(thread_id: str) -> uuid.UUID | None:
    """Start the thread's oldest queued-behind run if nothing runs or waits ahead of it."""
    with transaction.atomic():
        lock_thread(thread_id)
        if _ahead(thread_id).filter(waits_for_thread=False).exists():
            return None
        run_id = (
            Run.objects.filter(thread_id=thread_id, status=Run.Status.QUEUED, waits_for_thread=True)
            .order_by("created_at", "id")
            .values_list("id", flat=True)
            .first()
        )
        if run_id is None or not Run.stop_waiting_for_thread(run_id):
            return None
        send_run(run_id)
        live.publish_run(run_id, Run.Status.QUEUED)
    log.info("thread %s: run %s starts, the runs ahead of it ended", thread_id, run_id)
    return run_id


def on_run_stopped(
    sender: Any, run_id: uuid.UUID, status: str, thread_id: str | None = None, runs_waiting: bool | None = None, **kwargs: Any
) -> None:
    """`run_stopped` receiver: a run that ended lets the next run of its thread start."""
    if status not in Run.FINISHED or runs_waiting is False:
        # runs_waiting: the statement that ended the run saw none queued behind it
        # (Run._update_held). A run queued at that very moment, under a lock this statement does
        # not take, is started by the sweeper (start_waiting_runs), as when a worker dies.
        return
    # One indexed query for every run that ends (run_thread_waiting); the lock only when a run is
    # queued behind it (a run queued later sees this one ended: it was committed before this
    # receiver runs).
    thread = [thread_id] if thread_id is not None else Run.objects.filter(id=run_id).values("thread_id")
    waiting = Run.objects.filter(thread_id__in=thread, status=Run.Status.QUEUED, waits_for_thread=True)
    thread_id = waiting.values_list("thread_id", flat=True).first()
    if thread_id is not None:
        start_next(thread_id)


def start_waiting_runs(limit: int = 500) -> int:
    """The sweeper's pass: start queued-behind runs whose threads have nothing ahead any more
    (a run ended by a path that announces nothing, or a worker that died between the two)."""
    busy = Run.objects.filter(status__in=Run.ACTIVE, waits_for_thread=False)
    threads = (
        Run.objects.filter(status=Run.Status.QUEUED, waits_for_thread=True)
        .exclude(Q(thread_id__in=busy.values("thread_id")))
        .values_list("thread_id", flat=True)
        .distinct()[:limit]
    )
    return sum(1 for thread_id in list(threads) if start_next(thread_id) is not None)
