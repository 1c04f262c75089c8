"""The embedded server runs the beat schedule itself: every task of it, each on its own interval."""

from __future__ import annotations

from django.conf import settings

from console.celery import app
from console.management.commands.serve_embedded import due_tasks


def test_every_beat_task_exists_and_runs_on_its_own_interval() -> None:
    app.loader.import_default_modules()  # what periodic_loop does first
    schedule = {entry["task"]: float(entry["schedule"]) for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"agents.sweep_runs", "traces.prune_finished_runs", "traces.retry_otel_exports"} <= set(schedule)
    assert set(schedule) <= set(app.tasks), set(schedule) - set(app.tasks)
    assert schedule["agents.sweep_runs"] == settings.STEWARD_SWEEP_SECONDS, "one sweep interval, beat's and the demo's"
    last_run: dict[str, float] = {}
    assert sorted(due_tasks(last_run, 1000.0)) == sorted(schedule), "all of them at start"
    assert due_tasks(last_run, 1000.0 + schedule["agents.sweep_runs"] - 0.01) == []
    later = due_tasks(last_run, 1000.0 + schedule["agents.sweep_runs"])
    assert "agents.sweep_runs" in later
    assert "traces.prune_finished_runs" not in later, "the pruner keeps its own, longer interval"
