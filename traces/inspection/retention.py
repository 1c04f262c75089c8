"""Retention: delete the spans and checkpoints of runs that finished long ago.

Spans and LangGraph checkpoints are most of the database; a run's row is small and the lists
and the dashboard read it (totals, status, output), so the row stays and is marked
`pruned_at`. A run is pruned when it finished (succeeded, failed, cancelled) more than
STEWARD_RETENTION_DAYS ago, has no pending approval request and is not the source of a replay
still going (a recorded replay reads the original's spans as it runs).

Checkpoints belong to a thread, not a run, and several runs can share a thread (imported
copies, seeded data): a thread's checkpoints are deleted only when every run on it may be
pruned, so a run is skipped while any run on its thread must be kept.

Each batch of runs is one transaction: spans, checkpoint rows and the mark commit together,
and the runs are locked (skipped if someone else holds them) until then.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from agents.engine.models import Run
from approvals.models import ApprovalRequest
from traces.recording.models import SealedRunInput, Span

__all__ = ["checkpoint_tables", "cutoff_for", "preview", "prunable_runs", "prune_finished_runs"]

# LangGraph's checkpoint tables per database (agents/migrations/0002_checkpointer_tables.py
# creates them with the saver's own setup()); every one has a thread_id column.
_CHECKPOINT_TABLES = {
    "postgresql": ("checkpoints", "checkpoint_blobs", "checkpoint_writes"),
    "sqlite": ("checkpoints", "writes"),
}
# Names in the figures a prune returns: SQLite's `writes` is Postgres's `checkpoint_writes`.
_FIGURE_OF = {"checkpoints": "checkpoints", "checkpoint_blobs": "checkpoint_blobs",
              "checkpoint_writes": "checkpoint_writes", "writes": "checkpoint_writes"}
FIGURES = ("runs", "spans", "checkpoints", "checkpoint_blobs", "checkpoint_writes", "batches")


def checkpoint_tables(vendor: str) -> tuple[str, ...]:
    return _CHECKPOINT_TABLES[vendor]


def cutoff_for(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)


def prunable_runs(cutoff: datetime) -> QuerySet[Run]:
    """Unpruned runs that finished before `cutoff` and whose whole thread may be pruned."""

    pending = ApprovalRequest.objects.filter(run_id=OuterRef("pk"), status=ApprovalRequest.Status.PENDING)
    replaying = Run.objects.filter(parent_run_id=OuterRef("pk"), status__in=Run.ACTIVE)
    # A run that must keep its trace keeps its thread's checkpoints, so its thread-mates wait too.
    kept_on_thread = Run.objects.filter(thread_id=OuterRef("thread_id")).filter(
        ~Q(status__in=Run.FINISHED)
        | Q(finished_at__isnull=True)
        | Q(finished_at__gte=cutoff)
        | Exists(pending)
        | Exists(replaying)
    )
    return Run.objects.filter(
        status__in=Run.FINISHED, finished_at__lt=cutoff, pruned_at__isnull=True
    ).exclude(Exists(kept_on_thread))


def _settings(days: int | None, batch: int | None) -> tuple[int, int]:
    days = settings.STEWARD_RETENTION_DAYS if days is None else days
    batch = settings.STEWARD_RETENTION_BATCH if batch is None else batch
    if days < 0:
        raise ValueError(f"retention days must be 0 (keep everything) or more, not {days}")
    if batch < 1:
        raise ValueError(f"the retention batch must be at least 1 run, not {batch}")
    return days, batch


def _delete_checkpoints(cursor: Any, thread_ids: Sequence[str], figures: dict[str, int]) -> None:
    marks = ", ".join(["%s"] * len(thread_ids))
    for table in checkpoint_tables(connection.vendor):
        cursor.execute(f"DELETE FROM {table} WHERE thread_id IN ({marks})", list(thread_ids))
        figures[_FIGURE_OF[table]] += max(cursor.rowcount, 0)


def _prune_batch(cutoff: datetime, now: datetime, days: int, batch: int, figures: dict[str, int]) -> int:
    """Prune up to `batch` runs in one transaction; returns how many."""
    with transaction.atomic():
        rows = list(
            prunable_runs(cutoff)
            .select_for_update(skip_locked=True)
            .order_by("finished_at", "id")
            .values_list("id", "thread_id")[:batch]
        )
        if not rows:
            return 0
        run_ids: list[uuid.UUID] = [run_id for run_id, _ in rows]
        figures["spans"] += Span.objects.filter(run_id__in=run_ids).delete()[0]
        # A pruned run can no longer be replayed: the input sealed for replay goes too.
        SealedRunInput.objects.filter(run_id__in=run_ids).delete()
        with connection.cursor() as cursor:
            _delete_checkpoints(cursor, sorted({thread_id for _, thread_id in rows}), figures)
        figures["runs"] += Run.mark_pruned(run_ids, now, days)
        figures["batches"] += 1
    return len(rows)


def prune_finished_runs(
    now: datetime | None = None, days: int | None = None, batch: int | None = None
) -> dict[str, int]:
    """Delete the spans and checkpoints of runs finished more than `days` ago, `batch` runs per
    transaction, and mark those runs pruned.

    Args:
        now: the present (tests pass one); default the clock.
        days: retention in days, default STEWARD_RETENTION_DAYS; 0 keeps everything.
        batch: runs per transaction, default STEWARD_RETENTION_BATCH.

    Returns:
        What was deleted: {"runs", "spans", "checkpoints", "checkpoint_blobs" (Postgres only),
        "checkpoint_writes", "batches" (transactions that pruned something)}.
    """
    days, batch = _settings(days, batch)
    figures = dict.fromkeys(FIGURES, 0)
    if days == 0:
        # Retention off: not even a query, the embedded loop calls this every few seconds.
        return figures
    now = now or timezone.now()
    cutoff = cutoff_for(now, days)
    while _prune_batch(cutoff, now, days, batch, figures) == batch:
        pass
    return figures


def preview(now: datetime | None = None, days: int | None = None) -> dict[str, int]:
    """What `prune_finished_runs` would delete now, deleting nothing (same figures, batches 0)."""
    days, _ = _settings(days, None)
    figures = dict.fromkeys(FIGURES, 0)
    if days == 0:
        return figures
    runs = prunable_runs(cutoff_for(now or timezone.now(), days))
    figures["runs"] = runs.count()
    figures["spans"] = Span.objects.filter(run__in=runs).count()
    threads_sql, params = runs.values("thread_id").query.sql_with_params()
    with connection.cursor() as cursor:
        for table in checkpoint_tables(connection.vendor):
            cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE thread_id IN ({threads_sql})", params)
            figures[_FIGURE_OF[table]] += cursor.fetchone()[0]
    return figures
