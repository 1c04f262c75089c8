"""`manage.py seed_approvals` at a tiny size: the rows it says it made are there, and look real."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from agents.engine.models import Run
from approvals.models import ApprovalRequest, Decision, Queue
from approvals.stats import queue_stats

pytestmark = pytest.mark.django_db


def test_seed_approvals_creates_pending_and_decided_requests(roles: None) -> None:
    out = io.StringIO()
    call_command("seed_approvals", pending=50, decided=10, queue="payments", seed=1, stdout=out)

    requests = ApprovalRequest.objects.filter(queue__name="payments")
    assert requests.filter(status="pending").count() == 50
    assert requests.exclude(status="pending").count() == 10
    assert requests.filter(due_at__isnull=True).count() == 0
    assert Run.objects.filter(agent__key="refund", status="waiting").count() == 50
    assert Run.objects.filter(agent__key="refund", status="succeeded").count() == 10
    assert ApprovalRequest.objects.filter(run__isnull=True).count() == 0
    decisions = Decision.objects.filter(request__queue__name="payments")
    assert decisions.count() == 10
    assert set(decisions.values_list("user__username", flat=True)) <= {"seed-reviewer-1", "seed-reviewer-2", "seed-reviewer-3"}
    assert all(r.decided_at and r.decided_at > r.created_at for r in requests.exclude(status="pending"))
    assert "created 60 runs, 50 pending requests" in out.getvalue()
    assert "10 decided requests" in out.getvalue()

    stats = queue_stats(requests.first().queue)
    assert stats["pending"] == 50 and stats["decided"] == 10
    assert sum(stats["decisions_per_reviewer"].values()) == 10


def test_seed_approvals_makes_a_missing_queue(roles: None) -> None:
    call_command("seed_approvals", pending=3, queue="refunds-eu", stdout=io.StringIO())
    assert ApprovalRequest.objects.filter(queue__name="refunds-eu", status="pending").count() == 3
    queue = Queue.objects.get(name="refunds-eu")
    assert queue.reviewer_groups.filter(name="reviewers").exists()


def test_bench_approvals_runs_end_to_end_on_seeded_data(roles: None) -> None:
    """At a tiny size (no assertion on speed: that depends on the machine): it ends with its figures."""
    call_command("seed_approvals", pending=210, stdout=io.StringIO())
    out = io.StringIO()
    call_command("bench_approvals", repeat=2, warmup=1, stdout=out)

    figures = dict(line.split("=", 1) for line in out.getvalue().strip().splitlines() if "=" in line and " " not in line)
    for name in ("list_100", "list_200", "decision", "queues", "stats"):
        assert float(figures[f"{name}_p95_ms"]) >= float(figures[f"{name}_p50_ms"]) > 0
        assert int(figures[f"{name}_queries"]) > 0
    # No query per row: a page of 200 costs what a page of 100 does.
    assert figures["list_200_queries"] == figures["list_100_queries"]
    assert "of the list query:" in out.getvalue()
    # 2 + 1 timed and untimed decisions, and the one whose queries were counted.
    assert ApprovalRequest.objects.filter(status="approved", decided_by__username="bench-approvals-reviewer").count() == 4
