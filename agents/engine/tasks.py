"""The run engine's Celery tasks (found by Celery's autodiscovery): thin, named, ids only."""

from __future__ import annotations

from celery import shared_task

from agents.engine.run_queue import execute_run, send_run
from agents.engine.sweeper import sweep

__all__ = ["execute_run", "send_run", "sweep_runs"]


@shared_task(name="agents.sweep_runs", ignore_result=True)
def sweep_runs() -> dict[str, int]:
    return sweep()
