"""Retention deletes old finished runs' spans and checkpoints, keeps their rows, and never
touches a run that is still going, waiting for a person, or the source of a running replay."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from agents.engine import runtime
from agents.engine.checkpointer import checkpointer
from agents.engine.models import Run
from agents.engine.services import start_run
from approvals.models import ApprovalRequest
from console.kernel.errors import Conflict
from traces.inspection.replay import replay, retry
from traces.inspection.retention import checkpoint_tables, preview, prune_finished_runs
from traces.recording.models import Span

pytestmark = pytest.mark.django_db(transaction=True)

DAYS = 30


def _finished(engineer: Any, sku: str = "SKU-7") -> Run:
    run = start_run("stock_check", {"sku": sku}, engineer)
    runtime.execute(run.id)
    run.refresh_from_db()
    assert run.is_finished
    return run


def _age(run: Run, days: int) -> Run:
    """Pretend the run was made and finished `days` ago."""
    then = timezone.now() - timedelta(days=days)
    Run.objects.filter(id=run.id).update(created_at=then, finished_at=then if run.is_finished else None)
    run.refresh_from_db()
    return run


def _checkpoint_rows(run: Run) -> int:
    with connection.cursor() as cursor:
        total = 0
        for table in checkpoint_tables(connection.vendor):
            cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE thread_id = %s", [run.thread_id])
            total += cursor.fetchone()[0]
    return total


def _saved_checkpoints(run: Run) -> int:
    with checkpointer() as saver:
        return len(list(saver.list({"configurable": {"thread_id": run.thread_id}})))


def test_old_finished_runs_lose_spans_and_checkpoints_but_keep_their_row(engineer: Any) -> None:
    """A succeeded and a failed run finished 40 days ago: spans and every checkpoint row of
    their threads go, the rows stay with status, output and totals, marked pruned."""
    ok = _age(_finished(engineer), 40)
    failed = _age(_finished(engineer, "BROKEN-1"), 40)
    assert failed.status == Run.Status.FAILED
    spans = Span.objects.filter(run__in=[ok, failed]).count()
    rows = _checkpoint_rows(ok) + _checkpoint_rows(failed)
    assert spans > 0 and _saved_checkpoints(ok) > 0 and rows > 0
    before = Run.objects.values("status", "output", "steps", "tokens_in", "cost", "error").get(id=ok.id)

    now = timezone.now()
    figures = prune_finished_runs(now=now, days=DAYS)

    assert figures["runs"] == 2 and figures["batches"] == 1
    assert figures["spans"] == spans
    assert figures["checkpoints"] + figures["checkpoint_writes"] + figures["checkpoint_blobs"] == rows
    assert not Span.objects.filter(run__in=[ok, failed]).exists()
    assert _saved_checkpoints(ok) == 0 and _checkpoint_rows(ok) == 0 and _checkpoint_rows(failed) == 0
    ok.refresh_from_db()
    assert Run.objects.values("status", "output", "steps", "tokens_in", "cost", "error").get(id=ok.id) == before
    assert ok.pruned_at == now and ok.pruned_after_days == DAYS
    # Nothing left to do: a second pass prunes nothing.
    assert prune_finished_runs(now=now, days=DAYS)["runs"] == 0


def test_recent_and_unfinished_runs_are_untouched(engineer: Any) -> None:
    """A run finished yesterday and an old run still queued keep everything."""
    recent = _age(_finished(engineer), 1)
    queued = _age(start_run("stock_check", {"sku": "SKU-9"}, engineer), 90)
    spans, rows = Span.objects.filter(run=recent).count(), _checkpoint_rows(recent)

    figures = prune_finished_runs(days=DAYS)

    assert figures["runs"] == 0 and figures["spans"] == 0 and figures["batches"] == 0
    assert Span.objects.filter(run=recent).count() == spans and _checkpoint_rows(recent) == rows
    for run in (recent, queued):
        run.refresh_from_db()
        assert run.pruned_at is None


def test_run_waiting_for_approval_is_never_pruned(engineer: Any) -> None:
    """A refund over the limit waits with a pending request; even 400 days old it keeps its
    spans and checkpoints (it must resume from them); an old finished run beside it is pruned."""
    waiting = start_run("refund", {"order_id": "R-ret-1", "amount": 250, "reason": "broken"}, engineer)
    assert runtime.execute(waiting.id) == "waiting"
    assert ApprovalRequest.objects.filter(run=waiting, status=ApprovalRequest.Status.PENDING).exists()
    waiting = _age(waiting, 400)
    old = _age(_finished(engineer), 400)
    spans, rows = Span.objects.filter(run=waiting).count(), _checkpoint_rows(waiting)
    assert spans > 0 and rows > 0

    figures = prune_finished_runs(days=DAYS)

    assert figures["runs"] == 1
    assert Span.objects.filter(run=waiting).count() == spans and _checkpoint_rows(waiting) == rows
    waiting.refresh_from_db()
    old.refresh_from_db()
    assert waiting.pruned_at is None and old.pruned_at is not None


def test_a_finished_run_with_a_pending_request_is_kept(engineer: Any) -> None:
    """Whatever its status, a run someone is still asked to decide on keeps its trace."""
    waiting = start_run("refund", {"order_id": "R-ret-2", "amount": 300, "reason": "broken"}, engineer)
    assert runtime.execute(waiting.id) == "waiting"
    # As if the run had ended without its request being closed.
    Run.objects.filter(id=waiting.id).update(status=Run.Status.FAILED)
    waiting.refresh_from_db()
    _age(waiting, 100)

    assert prune_finished_runs(days=DAYS)["runs"] == 0
    ApprovalRequest.objects.filter(run=waiting).update(status=ApprovalRequest.Status.CANCELLED)
    assert prune_finished_runs(days=DAYS)["runs"] == 1


def test_runs_sharing_a_thread_wait_for_the_whole_thread(engineer: Any) -> None:
    """Checkpoints belong to a thread: an old run whose thread also holds a recent run keeps
    everything until the recent one is old too."""
    old = _age(_finished(engineer), 60)
    recent = _age(_finished(engineer), 2)
    Run.objects.filter(id=old.id).update(thread_id=recent.thread_id)

    assert prune_finished_runs(days=DAYS)["runs"] == 0
    assert _checkpoint_rows(recent) > 0 and Span.objects.filter(run=old).exists()

    _age(recent, 45)
    figures = prune_finished_runs(days=DAYS)
    assert figures["runs"] == 2 and _checkpoint_rows(recent) == 0


def test_source_of_a_replay_still_going_is_kept(engineer: Any, purge_broker: None) -> None:
    """A queued recorded replay will read its original's spans: the original waits for it."""
    original = _age(_finished(engineer), 60)
    copy = replay(original, engineer, mode="recorded")
    assert copy.status == Run.Status.QUEUED

    assert prune_finished_runs(days=DAYS)["runs"] == 0
    assert Span.objects.filter(run=original).exists()

    Run.objects.filter(id=copy.id).update(status=Run.Status.CANCELLED, finished_at=timezone.now())
    assert prune_finished_runs(days=DAYS)["runs"] == 1


def test_batches_of_two_prune_five_runs_in_three_transactions(engineer: Any) -> None:
    """batch=2 over 5 old runs: 2 + 2 + 1, every run pruned."""
    runs = [_age(_finished(engineer, f"SKU-{i}"), 35 + i) for i in range(5)]
    spans = Span.objects.filter(run__in=runs).count()

    figures = prune_finished_runs(days=DAYS, batch=2)

    assert figures["runs"] == 5 and figures["batches"] == 3 and figures["spans"] == spans
    assert Run.objects.filter(id__in=[r.id for r in runs], pruned_at__isnull=False).count() == 5
    assert not Span.objects.filter(run__in=runs).exists()
    assert all(_checkpoint_rows(r) == 0 for r in runs)


def test_zero_days_keeps_everything(engineer: Any, settings: Any) -> None:
    """Retention 0 (the default) prunes nothing, however old; so does the setting at 0."""
    old = _age(_finished(engineer), 3000)
    spans, rows = Span.objects.filter(run=old).count(), _checkpoint_rows(old)

    assert set(prune_finished_runs(days=0).values()) == {0}
    settings.STEWARD_RETENTION_DAYS = 0
    assert set(prune_finished_runs().values()) == {0}
    assert Span.objects.filter(run=old).count() == spans and _checkpoint_rows(old) == rows
    old.refresh_from_db()
    assert old.pruned_at is None

    settings.STEWARD_RETENTION_DAYS = DAYS
    assert prune_finished_runs()["runs"] == 1


def test_pruned_run_page_says_so_and_replay_and_retry_refuse(engineer: Any, client: Any) -> None:
    """The run page explains the missing waterfall; replaying or retrying is a clear Conflict."""
    run = _age(_finished(engineer, "BROKEN-2"), 50)
    prune_finished_runs(days=DAYS)
    run.refresh_from_db()

    client.force_login(engineer)
    page = client.get(f"/runs/{run.id}/").content.decode()
    assert f"Spans and checkpoints were pruned on {run.pruned_at:%Y-%m-%d} (retention {DAYS} days)" in page
    assert 'id="span-rows"' not in page and 'id="retry-button"' not in page

    with pytest.raises(Conflict, match="pruned on .* it can no longer be replayed or retried"):
        retry(run, engineer)
    with pytest.raises(Conflict, match="pruned"):
        replay(run, engineer, mode="live")
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED and not Run.objects.filter(parent_run=run).exists()


def test_prune_runs_command_dry_run_then_prune(engineer: Any) -> None:
    """--dry-run counts and deletes nothing; the real run prints what it deleted."""
    old = _age(_finished(engineer), 20)
    spans = Span.objects.filter(run=old).count()

    out = StringIO()
    call_command("prune_runs", "--days", "10", "--dry-run", stdout=out)
    assert "Would prune 1 runs finished before" in out.getvalue()
    assert f"{spans} spans" in out.getvalue() and "Nothing deleted" in out.getvalue()
    assert preview(days=10)["spans"] == spans and Span.objects.filter(run=old).count() == spans

    out = StringIO()
    call_command("prune_runs", "--days", "10", stdout=out)
    assert "Pruned 1 runs" in out.getvalue() and f"{spans} spans" in out.getvalue()
    assert "retention 10 days" in out.getvalue() and "in 1 transactions" in out.getvalue()
    assert not Span.objects.filter(run=old).exists()

    out = StringIO()
    call_command("prune_runs", "--days", "0", stdout=out)
    assert "Retention is off" in out.getvalue()
