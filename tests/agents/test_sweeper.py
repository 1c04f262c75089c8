"""The sweeper: the database is the queue of record, a lost message or a dead worker only delays a run."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from agents.engine.models import Agent, Run
from agents.engine.registry import sync_agents
from agents.engine.sweeper import sweep
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _lost_run(engineer: Any, **fields: Any) -> Run:
    """A run written as queued whose Celery message never reached any broker."""
    sync_agents()
    return Run.objects.create(
        agent=Agent.objects.get(key="order_summary"), thread_id="t", input={"customer_id": "C-9"}, created_by=engineer, **fields
    )


def test_sweeper_resends_a_queued_run_whose_message_was_lost(celery_worker: Any, engineer: Any) -> None:
    """Queued longer than STEWARD_REQUEUE_SECONDS with no worker: sent again, and the worker runs it."""
    old = timezone.now() - timedelta(seconds=settings.STEWARD_REQUEUE_SECONDS + 5)
    run = _lost_run(engineer, enqueued_at=old)
    run.thread_id = str(run.id)
    run.save(update_fields=["thread_id"])
    fresh = _lost_run(engineer, enqueued_at=timezone.now())
    counts = sweep()
    assert counts["resent"] == 1
    wait_for(lambda: Run.objects.get(id=run.id).status == "succeeded")
    assert Run.objects.get(id=fresh.id).status == "queued"


def test_sweeper_requeues_a_run_whose_lease_expired(purge_broker: None, engineer: Any) -> None:
    """A running run whose worker died (lease expired) goes back to queued and is sent again."""
    run = _lost_run(
        engineer, status="running", attempts=1, lease_owner="dead", lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert sweep()["requeued"] == 1
    run.refresh_from_db()
    assert run.status == "queued" and run.lease_owner == "" and run.enqueued_at is not None


def test_sweeper_fails_a_run_after_its_attempts(purge_broker: None, engineer: Any) -> None:
    """After STEWARD_MAX_ATTEMPTS claims that never finished, the run fails with a clear error."""
    run = _lost_run(
        engineer,
        status="running",
        attempts=settings.STEWARD_MAX_ATTEMPTS,
        lease_owner="dead",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    assert sweep()["failed"] == 1
    run.refresh_from_db()
    assert run.status == "failed" and f"gave up after {settings.STEWARD_MAX_ATTEMPTS} attempts" in run.error


def test_sweeper_leaves_live_leases_alone(purge_broker: None, engineer: Any) -> None:
    """A running run with a valid lease is not touched."""
    run = _lost_run(engineer, status="running", attempts=1, lease_owner="alive", lease_expires_at=timezone.now() + timedelta(minutes=5))
    assert sweep() == {"requeued": 0, "failed": 0, "resent": 0, "unqueued": 0}
    run.refresh_from_db()
    assert run.status == "running" and run.lease_owner == "alive"


def test_a_run_queued_behind_its_thread_waits_for_the_run_ahead(purge_broker: None, engineer: Any) -> None:
    """Not resent nor claimed while its thread's run is active; started by the sweeper once that
    run has ended by a path that told nobody (here, a row written failed)."""
    old = timezone.now() - timedelta(seconds=settings.STEWARD_REQUEUE_SECONDS + 5)
    ahead = _lost_run(engineer, status="waiting")
    behind = _lost_run(engineer, enqueued_at=old, waits_for_thread=True)
    assert sweep() == {"requeued": 0, "failed": 0, "resent": 0, "unqueued": 0}
    assert Run.claim(behind.id, "worker") is None
    Run.objects.filter(id=ahead.id).update(status="failed")
    assert sweep()["unqueued"] == 1
    behind.refresh_from_db()
    assert behind.status == "queued" and not behind.waits_for_thread and behind.enqueued_at > old
    assert Run.claim(behind.id, "worker") is not None
