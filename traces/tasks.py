"""Celery tasks: thin, named, ids only."""

from __future__ import annotations

from celery import shared_task

__all__ = ["prune_finished_runs", "retry_otel_exports"]


@shared_task(name="traces.prune_finished_runs", ignore_result=True)
def prune_finished_runs() -> dict[str, int]:
    from traces.inspection import retention

    return retention.prune_finished_runs()


@shared_task(name="traces.retry_otel_exports", ignore_result=True)
def retry_otel_exports() -> dict[str, int]:
    from traces.inspection import otel

    return otel.retry_unexported()
