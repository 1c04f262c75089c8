"""`multitask_strategy="enqueue"` through `get_sync_client`: a run created on a busy thread waits
(`pending`) and starts by itself once the thread's run ends, in order, across processes (the web
process queues it, the worker that ends the run ahead starts it)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.test import Client
from langgraph_sdk import get_sync_client

from agents.engine.models import Run
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]


def _status_of(call: Any) -> int:
    with pytest.raises(httpx.HTTPStatusError) as caught:
        call()
    return caught.value.response.status_code


def test_enqueued_runs_start_when_the_run_ahead_ends_in_order(sdk_url: str, key_of: Any, engineer: Any, tmp_path: Path) -> None:
    client = get_sync_client(url=sdk_url, api_key=key_of(engineer))
    tid = client.threads.create()["thread_id"]
    gate = tmp_path / "go"
    first = client.runs.create(tid, "lg_queue", input={"text": "one", "hold": str(gate)})
    wait_for(lambda: Run.objects.get(id=first["run_id"]).status == "running")

    second = client.runs.create(tid, "lg_queue", input={"text": "two"}, multitask_strategy="enqueue")
    assert second["status"] == "pending" and second["multitask_strategy"] == "enqueue"
    # A third, waited for: `runs.wait` blocks until it has run, after the second.
    with ThreadPoolExecutor(1) as pool:
        third = pool.submit(client.runs.wait, tid, "lg_queue", input={"text": "three"}, multitask_strategy="enqueue")
        wait_for(lambda: Run.objects.filter(thread_id=tid).count() == 3)
        assert client.runs.get(tid, second["run_id"])["status"] == "pending"
        assert client.threads.get(tid)["status"] == "busy"
        # Under reject the busy thread still answers 409.
        assert _status_of(lambda: client.runs.create(tid, "lg_queue", input={"text": "no"})) == 409
        queued = Run.objects.get(id=second["run_id"])
        assert queued.status == "queued" and queued.waits_for_thread and queued.started_at is None

        gate.touch()
        joined = client.runs.join(tid, second["run_id"])
        assert joined["heard"][:2] == ["one after 0", "two after 1"]
        assert third.result()["heard"] == ["one after 0", "two after 1", "three after 2"]

    runs = sorted(Run.objects.filter(thread_id=tid), key=lambda r: r.created_at)
    assert [r.status for r in runs] == ["succeeded"] * 3
    # Each started after the one ahead of it had finished.
    assert runs[0].finished_at <= runs[1].started_at and runs[1].finished_at <= runs[2].started_at
    assert [r["status"] for r in client.runs.list(tid)] == ["success"] * 3
    # The thread's history: each run's input applied to the state the run before left.
    texts = [h["values"].get("text") for h in reversed(client.threads.get_history(tid, limit=100)) if h["next"] == ["listen"]]
    assert texts == ["one", "two", "three"]


def test_an_enqueued_run_waits_for_a_paused_run_and_starts_when_it_is_cancelled(sdk_url: str, key_of: Any, engineer: Any) -> None:
    client = get_sync_client(url=sdk_url, api_key=key_of(engineer))
    tid = client.threads.create()["thread_id"]
    paused = client.runs.create(tid, "question", input={"topic": "order"})
    assert client.runs.join(tid, paused["run_id"])["__interrupt__"]
    # A run waiting for a person keeps its thread: the next one queues behind it.
    queued = client.runs.create(tid, "question", input={"topic": "next"}, multitask_strategy="enqueue")
    assert client.runs.get(tid, queued["run_id"])["status"] == "pending"
    assert Run.objects.get(id=queued["run_id"]).waits_for_thread
    # Its console page says what it waits for.
    page = Client()
    page.force_login(engineer)
    assert 'id="run-enqueued"' in page.get(f"/runs/{queued['run_id']}/").content.decode()

    client.runs.cancel(tid, paused["run_id"])
    joined = client.runs.join(tid, queued["run_id"])
    assert joined["topic"] == "next" and joined["__interrupt__"]
    assert client.runs.get(tid, queued["run_id"])["status"] == "interrupted"

    # An enqueued run cancelled while it waits never starts; the one behind it does.
    behind = client.runs.create(tid, "question", input={"topic": "dropped"}, multitask_strategy="enqueue")
    last = client.runs.create(tid, "question", input={"topic": "last"}, multitask_strategy="enqueue")
    client.runs.cancel(tid, behind["run_id"])
    client.runs.cancel(tid, queued["run_id"])
    assert client.runs.join(tid, last["run_id"])["topic"] == "last"
    assert Run.objects.get(id=behind["run_id"]).started_at is None
