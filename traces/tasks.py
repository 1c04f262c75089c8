"""Celery tasks: thin, named, ids only."""

from __future__ import annotations

from celery import shared_task

from traces.inspection import otel, retention

__all__ = ["prune_finished_runs", "retry_otel_exports"]


@shared_task(name="traces.prune_finished_runs", ignore_result=True)
def prune_finished_runs() -> dict[str, int]:

    return retention.prune_finished_runs()


@shared_task(name="traces.retry_otel_exports", ignore_result=True)
def retry_otel_exports() -> dict[str, int]:

    return otel.retry_unexported()
