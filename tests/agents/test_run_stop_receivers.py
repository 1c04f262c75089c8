"""What a worker's last statement on a run tells the `run_stopped` receivers, so that a run with
nothing queued behind it and no webhook costs them no query (issue #18): and that when there is
something to do, they still do it."""

from __future__ import annotations

import importlib
import uuid
from typing import Any

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents.engine.graph_call import METADATA_KEY, GraphCall
from agents.engine.models import Agent, Run
from agents.engine.registry import sync_agents
from agents.engine.signals import announce_run_stopped
from console.langgraph_api.models import SdkRun

pytestmark = pytest.mark.django_db


def _run(engineer: Any, thread_id: str, **fields: Any) -> Run:
    sync_agents()
    return Run.objects.create(
        agent=Agent.objects.get(key="order_summary"), thread_id=thread_id, input={"customer_id": "C-9"}, created_by=engineer, **fields
    )


def _held(engineer: Any, thread_id: str) -> Run:
    run = _run(engineer, thread_id, status="running", lease_owner="me")
    return Run.objects.get(id=run.id)


def test_the_stop_statement_says_whether_runs_wait_behind(engineer: Any) -> None:
    alone = _held(engineer, "thread-alone")
    assert alone.mark_succeeded({"answer": "ok"}, {"steps": 2})
    assert alone.runs_waiting_behind is (False if connection.vendor == "postgresql" else None)
    stored = Run.objects.get(id=alone.id)
    assert (stored.status, stored.output, stored.steps, stored.lease_owner) == ("succeeded", {"answer": "ok"}, 2, "")

    ahead = _held(engineer, "thread-busy")
    _run(engineer, "thread-busy", waits_for_thread=True)
    _run(engineer, "thread-other", waits_for_thread=True)
    assert ahead.mark_failed("boom", "", {})
    assert ahead.runs_waiting_behind is (True if connection.vendor == "postgresql" else None)
    assert Run.objects.get(id=ahead.id).status == "failed"


def test_a_lost_lease_changes_nothing(engineer: Any) -> None:
    run = _held(engineer, "thread-lost")
    Run.objects.filter(id=run.id).update(lease_owner="someone else")
    assert not run.mark_succeeded({"answer": "late"}, {})
    assert run.runs_waiting_behind is None
    assert Run.objects.get(id=run.id).status == "running"


def test_receivers_ask_nothing_of_a_run_with_nothing_to_do(engineer: Any) -> None:
    run = _run(engineer, "thread-quiet", status="succeeded")
    with CaptureQueriesContext(connection) as queries:
        announce_run_stopped(run.id, "succeeded", run.thread_id, runs_waiting=False, metadata={})
    assert [q["sql"] for q in queries.captured_queries] == []
    # Not told: they look it up, as before.
    with CaptureQueriesContext(connection) as queries:
        announce_run_stopped(run.id, "succeeded", run.thread_id)
    assert len(queries.captured_queries) >= 2


def test_told_that_a_run_waits_the_queue_starts_it(engineer: Any, purge_broker: None, broker_purged_after: None) -> None:
    ahead = _run(engineer, "thread-next", status="succeeded")
    behind = _run(engineer, "thread-next", waits_for_thread=True)
    announce_run_stopped(ahead.id, "succeeded", ahead.thread_id, runs_waiting=True, metadata={})
    assert not Run.objects.get(id=behind.id).waits_for_thread


def test_runs_with_a_webhook_before_the_flag_are_marked_by_the_migration(engineer: Any) -> None:
    with_hook = _run(engineer, "t1", status="waiting", metadata={METADATA_KEY: {"context": {"k": 1}}})
    without = _run(engineer, "t2", status="queued")
    ended = _run(engineer, "t3", status="succeeded")
    for run, hook in ((with_hook, "https://example.com/hook"), (without, None), (ended, "https://example.com/hook")):
        SdkRun.objects.create(run=run, assistant_id=str(uuid.uuid4()), kwargs={"webhook": hook})
    migration = importlib.import_module("console.migrations.0006_run_webhook_flag")
    migration.mark_webhook_runs(apps, None)
    assert GraphCall.from_metadata(Run.objects.get(id=with_hook.id).metadata) == GraphCall(context={"k": 1}, webhook=True)
    assert not GraphCall.from_metadata(Run.objects.get(id=without.id).metadata).webhook
    assert not GraphCall.from_metadata(Run.objects.get(id=ended.id).metadata).webhook
