"""Batch replay: the last N failed runs of an agent, replayed mixed, and the summary page."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from agents import runtime
from agents.models import Run
from agents.services import start_run
from traces.batch import replay_failed

pytestmark = pytest.mark.django_db(transaction=True)


def _failed_flaky_runs(user: Any, count: int) -> list[Run]:
    """`count` failed runs of "flaky", oldest first, each on a topic it has never seen."""
    runs = []
    for _ in range(count):
        run = start_run("flaky", {"topic": f"batch-{uuid.uuid4().hex}"}, user)
        runtime.execute(run.id)
        run.refresh_from_db()
        assert run.status == "failed" and "transient" in run.error
        runs.append(run)
    return runs


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_replay_failed_replays_the_newest_and_they_now_succeed(engineer: Any) -> None:
    oldest, middle, newest = _failed_flaky_runs(engineer, 3)
    replays = replay_failed("flaky", engineer, limit=2)
    assert [r.parent_run_id for r in replays] == [newest.id, middle.id]
    batch = replays[0].metadata["replay"]["batch"]
    for new in replays:
        stored = Run.objects.get(id=new.id).metadata["replay"]
        assert stored["batch"] == batch and stored["mode"] == "mixed"
        assert stored["live_from_step"] == 2, "recorded until the failed fetch step, live from it"
        assert runtime.execute(new.id) == "succeeded"
    assert not Run.objects.filter(parent_run=oldest).exists()


def test_the_summary_page_lists_each_replay_with_its_diff(engineer: Any) -> None:
    _, middle, newest = _failed_flaky_runs(engineer, 3)
    client = _client(engineer)
    form = client.get("/agents/flaky/replay-failed")
    assert form.status_code == 200 and str(newest.id)[:8] in form.content.decode()
    response = client.post("/agents/flaky/replay-failed", {"limit": "2", "state_patch": ""})
    assert response.status_code == 302
    batch_id = response["Location"].rstrip("/").split("/")[-1]
    assert response["Location"] == f"/replays/{batch_id}/"
    page = client.get(response["Location"]).content.decode()
    assert page.count('class="batch-row') == 2
    assert 'hx-trigger="every 2s"' in page, "re-fetched while replays are queued"
    replays = list(Run.objects.filter(metadata__replay__batch=batch_id))
    for new in replays:
        assert f"/runs/{new.parent_run_id}/diff/{new.id}/" in page
        runtime.execute(new.id)
    rows = client.get(f"/replays/{batch_id}/rows").content.decode()
    assert rows.count('class="batch-row fixed"') == 2 and "2 of 2" in rows
    assert "every 2s" not in rows, "polling stops once every replay has finished"
    assert {r.parent_run_id for r in replays} == {middle.id, newest.id}


def test_bad_forms_and_unknown_batches(engineer: Any) -> None:
    _failed_flaky_runs(engineer, 1)
    client = _client(engineer)
    bad = client.post("/agents/flaky/replay-failed", {"limit": "2", "state_patch": "[1"})
    assert bad.status_code == 422 and "not valid JSON" in bad.content.decode()
    unknown_key = client.post("/agents/flaky/replay-failed", {"limit": "1", "state_patch": '{"nonsense": 1}'})
    assert unknown_key.status_code == 422 and "nonsense" in unknown_key.content.decode()
    assert client.get(f"/replays/{uuid.uuid4()}/").status_code == 404
    assert client.get("/agents/no-such-agent/replay-failed").status_code == 404


def test_reviewers_may_not_replay_in_batches(engineer: Any, reviewer: Any) -> None:
    _failed_flaky_runs(engineer, 1)
    replays = replay_failed("flaky", engineer, limit=1)
    batch = replays[0].metadata["replay"]["batch"]
    client = _client(reviewer)
    assert client.get("/agents/flaky/replay-failed").status_code == 403
    assert client.post("/agents/flaky/replay-failed", {"limit": "1"}).status_code == 403
    assert client.get(f"/replays/{batch}/").status_code == 403
    assert client.get(f"/replays/{batch}/rows").status_code == 403
