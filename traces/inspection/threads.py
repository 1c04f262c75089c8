"""Threads: runs that share a thread id form one conversation, read in the order they were made."""

from __future__ import annotations

from django.db.models import QuerySet

from agents.engine.models import Run

__all__ = ["thread_runs", "thread_size"]


def thread_runs(thread_id: str) -> QuerySet[Run]:
    """The thread's runs, oldest first (the conversation's order)."""
    return (
        Run.objects.filter(thread_id=thread_id)
        .select_related("agent", "created_by")
        .order_by("created_at", "id")
    )


def thread_size(run: Run) -> int:
    """How many runs share `run`'s thread (itself included)."""
    return Run.objects.filter(thread_id=run.thread_id).count()
