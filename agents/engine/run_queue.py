"""Sending runs to the workers: the task that executes a run, and `send_run` on commit."""

from __future__ import annotations

import uuid

from celery import shared_task
from django.db import transaction

from agents.engine import runtime

__all__ = ["execute_run", "send_run"]


@shared_task(name="agents.execute_run", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def execute_run(run_id: str) -> str | None:
    return runtime.execute(run_id)


def send_run(run_id: uuid.UUID | str) -> None:
    """Wake a worker for the run once the current transaction commits. The row is the truth:
    a lost message only delays the run until the sweeper sends it again. So a broker that is
    down is logged, not raised: the caller's write is committed, and an error would tell it
    otherwise (a client would start the run twice)."""
    transaction.on_commit(lambda: execute_run.apply_async(args=(str(run_id),)), robust=True)
