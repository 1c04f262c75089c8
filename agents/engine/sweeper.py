"""The sweeper: the database is the queue of record, Celery messages only wake workers.

It re-sends runs that sit `queued` with no worker for too long (a lost message, a broker
restart), re-queues runs whose lease expired (a dead worker), and fails a run that used up its
attempts with a clear error. It also starts runs queued behind their thread whose runs ahead
have ended (agents/engine/thread_queue.py: each run that ends does it; this is the backstop).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agents.engine import thread_queue
from agents.engine.hooks import approvals
from agents.engine.models import Run
from agents.engine.run_queue import send_run
from agents.engine.signals import announce_run_stopped

__all__ = ["sweep"]

log = logging.getLogger(__name__)
BATCH = 500


def sweep(now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    counts = {"requeued": 0, "failed": 0, "resent": 0, "unqueued": 0}
    expired = list(
        Run.objects.filter(status=Run.Status.RUNNING, lease_expires_at__lt=now).values_list("id", "attempts")[
            :BATCH
        ]
    )
    for run_id, attempts in expired:
        with transaction.atomic():
            if attempts >= settings.STEWARD_MAX_ATTEMPTS:
                error = f"gave up after {attempts} attempts: each time the worker stopped without finishing (crash or lost lease)"
                # The run's row first (this UPDATE), then its requests: the lock order of
                # docs/architecture.md, "Locks".
                if Run.fail_abandoned(run_id, error, now):
                    approvals().cancel_requests_of_run(run_id, None, "run failed")
                    transaction.on_commit(partial(announce_run_stopped, run_id, Run.Status.FAILED))
                    counts["failed"] += 1
            elif Run.requeue(run_id, Run.Status.RUNNING, now):
                send_run(run_id)
                counts["requeued"] += 1

    cutoff = now - timedelta(seconds=settings.STEWARD_REQUEUE_SECONDS)
    stale = list(
        Run.objects.filter(status=Run.Status.QUEUED, waits_for_thread=False)
        .filter(Q(enqueued_at__lt=cutoff) | Q(enqueued_at__isnull=True, created_at__lt=cutoff))
        .values_list("id", flat=True)[:BATCH]
    )
    if stale:
        with transaction.atomic():
            Run.mark_resent(stale, now)
            for run_id in stale:
                send_run(run_id)
        counts["resent"] = len(stale)
    counts["unqueued"] = thread_queue.start_waiting_runs(BATCH)
    if any(counts.values()):
        log.info("sweeper: %s", counts)
    return counts
