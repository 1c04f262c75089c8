"""Assistants, threads and runs through `get_sync_client`, as a LangGraph Platform client
calls them; every run is a Steward run, in `/api/runs` with its spans."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_sync_client

from agents.engine.models import Run
from console.kernel.models import AuditEvent
from tests.support.waiting import wait_for
from traces.recording.models import Span

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]


def _status_of(call: Any) -> tuple[int, Any]:
    with pytest.raises(httpx.HTTPStatusError) as caught:
        call()
    return caught.value.response.status_code, caught.value.response.json()


def test_every_agent_is_an_assistant(sdk_url: str, key_of: Any, engineer: Any, admin_user: Any) -> None:
    client = get_sync_client(url=sdk_url, api_key=key_of(engineer))
    found = {a["graph_id"]: a for a in client.assistants.search(limit=100)}
    assert {"known", "question", "lg_plain", "lg_react"} <= set(found)
    plain = found["lg_plain"]
    # LangGraph Platform's id of a graph's assistant: uuid5 of the graph id.
    assert plain["assistant_id"] == str(uuid.uuid5(uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8"), "lg_plain"))
    assert client.assistants.get(plain["assistant_id"])["graph_id"] == "lg_plain"
    assert client.assistants.get("lg_plain")["assistant_id"] == plain["assistant_id"]
    assert [a["graph_id"] for a in client.assistants.search(graph_id="known")] == ["known"]

    drawn = client.assistants.get_graph("lg_plain")
    assert {n["id"] for n in drawn["nodes"]} >= {"greet", "count"}
    assert any(e["source"] == "greet" and e["target"] == "count" for e in drawn["edges"])
    schemas = client.assistants.get_schemas("known")
    assert schemas["graph_id"] == "known" and "input_schema" in schemas and "config_schema" in schemas
    assert len(client.assistants.get_versions("known")) == 1

    assert _status_of(lambda: client.assistants.get("nobody"))[0] == 404
    # Changing assistants is for admins; Steward has no assistant configuration: a clear 422.
    assert _status_of(lambda: client.assistants.create("known", config={"x": 1}))[0] == 403
    admin = get_sync_client(url=sdk_url, api_key=key_of(admin_user))
    status, body = _status_of(lambda: admin.assistants.create("known", config={"x": 1}))
    assert status == 422 and "no configuration of their own" in str(body["detail"])
    assert _status_of(lambda: admin.assistants.update(plain["assistant_id"], config={"x": 1}))[0] == 422
    # No key, a bad key.
    assert _status_of(lambda: get_sync_client(url=sdk_url, api_key="nope").assistants.search())[0] == 401


def test_a_thread_holds_a_conversation_of_runs(sdk_url: str, key_of: Any, engineer: Any, api: Any, client_for: Any) -> None:
    client = get_sync_client(url=sdk_url, api_key=key_of(engineer))
    thread = client.threads.create(metadata={"user": "ada"})
    tid = thread["thread_id"]
    assert thread["status"] == "idle" and thread["metadata"] == {"user": "ada"}

    first = client.runs.wait(tid, "lg_plain", input={"topic": "tea"})
    # The greeting's first words come from the graph's .env (langgraph.json's "env").
    hello = first["greeting"].removesuffix(": tea")
    assert first == {"topic": "tea", "greeting": f"{hello}: tea", "words": len(f"{hello}: tea".split())}
    # The next turn on the same thread starts the graph again with its own input.
    second = client.runs.wait(tid, "lg_plain", input={"topic": "green tea"})
    assert second == {"topic": "green tea", "greeting": f"{hello}: green tea", "words": len(f"{hello}: green tea".split())}

    runs = client.runs.list(tid)
    assert [r["status"] for r in runs] == ["success", "success"]
    assert all(r["thread_id"] == tid and r["assistant_id"] == client.assistants.get("lg_plain")["assistant_id"] for r in runs)
    for sdk_run in runs:
        # The SDK's run id is the Steward run: in /api/runs with its spans.
        steward = api(engineer).get(f"/api/runs/{sdk_run['run_id']}")
        assert steward.status_code == 200 and steward.json()["status"] == "succeeded"
        assert sorted(Span.objects.filter(run_id=sdk_run["run_id"], kind="node").values_list("name", flat=True)) == ["count", "greet"]
        assert client.runs.get(tid, sdk_run["run_id"])["status"] == "success"
        # And the console's run page.
        page = client_for(engineer).get(f"/runs/{sdk_run['run_id']}/")
        assert page.status_code == 200 and sdk_run["run_id"] in page.content.decode()

    got = client.threads.get(tid)
    assert got["status"] == "idle" and got["values"]["greeting"] == f"{hello}: green tea"
    assert got["metadata"]["graph_id"] == "lg_plain"
    state = client.threads.get_state(tid)
    assert state["values"]["words"] == second["words"] and state["next"] == [] and state["checkpoint"]["checkpoint_id"]
    history = client.threads.get_history(tid, limit=50)
    assert len(history) >= 6 and history[0]["checkpoint"] == state["checkpoint"]
    # State at an older checkpoint: the first turn's end.
    older = next(h for h in history if h["values"].get("topic") == "tea" and h["next"] == [])
    at = client.threads.get_state(tid, checkpoint_id=older["checkpoint"]["checkpoint_id"])
    assert at["values"]["greeting"] == f"{hello}: tea"

    # Search by metadata and status; update metadata; count.
    assert [t["thread_id"] for t in client.threads.search(metadata={"user": "ada"})] == [tid]
    assert client.threads.search(metadata={"user": "ada"}, status="busy") == []
    client.threads.update(tid, metadata={"topic": "drinks"})
    assert client.threads.get(tid)["metadata"]["topic"] == "drinks"
    assert client.threads.count(metadata={"user": "ada"}) == 1

    # A state update as a node writes a new checkpoint; a copy starts from the same state.
    updated = client.threads.update_state(tid, {"greeting": "hello there"}, as_node="greet")
    assert updated["checkpoint"]["checkpoint_id"] != state["checkpoint"]["checkpoint_id"]
    after = client.threads.get_state(tid)
    assert after["values"]["greeting"] == "hello there" and after["next"] == ["count"]
    assert _status_of(lambda: client.threads.update_state(tid, {"greeting": "x"}, as_node="nowhere"))[0] == 422
    copy = client.threads.copy(tid)
    assert client.threads.get_state(copy["thread_id"])["values"]["greeting"] == "hello there"
    assert client.runs.list(copy["thread_id"]) == []

    # Deleting hides the thread; its runs stay Steward runs with their spans and audit rows.
    client.threads.delete(tid)
    assert _status_of(lambda: client.threads.get(tid))[0] == 404
    assert tid not in [t["thread_id"] for t in client.threads.search(limit=100)]
    assert Run.objects.filter(thread_id=tid).count() == 2
    assert Span.objects.filter(run_id__in=[r["run_id"] for r in runs]).exists()
    assert AuditEvent.objects.filter(action="thread.deleted", object_id=tid).exists()


def test_background_runs_join_cancel_and_multitask(sdk_url: str, key_of: Any, engineer: Any, reviewer: Any) -> None:
    client = get_sync_client(url=sdk_url, api_key=key_of(engineer))
    thread = client.threads.create()
    tid = thread["thread_id"]
    run = client.runs.create(tid, "question", input={"topic": "order"})
    assert run["status"] == "pending" and run["thread_id"] == tid
    joined = client.runs.join(tid, run["run_id"])
    assert joined["__interrupt__"][0]["value"] == "What is the order id?"
    assert client.runs.get(tid, run["run_id"])["status"] == "interrupted"
    assert client.threads.get(tid)["status"] == "interrupted"

    # reject (the default): the thread is taken.
    status, body = _status_of(lambda: client.runs.create(tid, "question", input={"topic": "again"}))
    assert status == 409 and run["run_id"] in body["detail"]
    # Another graph's run on this thread, an unknown assistant, a malformed body, a thread that does not exist.
    assert _status_of(lambda: client.runs.create(tid, "lg_plain", input={"topic": "x"}, multitask_strategy="interrupt"))[0] == 409
    assert _status_of(lambda: client.runs.create(tid, "nobody", input={}))[0] == 404
    assert _status_of(lambda: client.runs.create(tid, "question", input={"topic": 3, "x": []}, multitask_strategy="bogus"))[0] == 422  # type: ignore[arg-type]
    assert _status_of(lambda: client.runs.create(str(uuid.uuid4()), "question", input={"topic": "x"}))[0] == 404
    # What Steward cannot honour is refused by name.
    status, body = _status_of(lambda: client.runs.create(tid, "question", input={"topic": "x"}, after_seconds=5))
    assert status == 422 and body["detail"][0]["loc"] == ["body", "after_seconds"]

    # interrupt: the waiting run is cancelled (its request with it), the new one starts.
    second = client.runs.create(tid, "question", input={"topic": "two"}, multitask_strategy="interrupt")
    assert Run.objects.get(id=run["run_id"]).status == "cancelled"
    assert client.runs.join(tid, second["run_id"])["topic"] == "two"
    # rollback: cancelled and gone from the SDK's list, still in the console.
    third = client.runs.create(tid, "question", input={"topic": "three"}, multitask_strategy="rollback")
    assert second["run_id"] not in [r["run_id"] for r in client.runs.list(tid)]
    assert Run.objects.get(id=second["run_id"]).status == "cancelled"
    client.runs.join(tid, third["run_id"])
    client.runs.cancel(tid, third["run_id"])
    assert client.runs.get(tid, third["run_id"])["status"] == "interrupted"
    assert Run.objects.get(id=third["run_id"]).status == "cancelled"
    assert _status_of(lambda: client.runs.cancel(tid, third["run_id"]))[0] == 409
    client.runs.delete(tid, third["run_id"])
    assert _status_of(lambda: client.runs.get(tid, third["run_id"]))[0] == 404

    # A run's own breakpoint: it stops before the node, interrupted, with the node next.
    paused_tid = client.threads.create()["thread_id"]
    status, body = _status_of(lambda: client.runs.create(paused_tid, "lg_plain", input={"topic": "p"}, interrupt_before=["nowhere"]))
    assert status == 422 and "nowhere" in str(body["detail"])
    paused = client.runs.create(paused_tid, "lg_plain", input={"topic": "p"}, interrupt_before=["count"])
    client.runs.join(paused_tid, paused["run_id"])
    assert client.runs.get(paused_tid, paused["run_id"])["status"] == "interrupted"
    assert client.threads.get_state(paused_tid)["next"] == ["count"]

    # if_not_exists=create makes the thread; a stateless run has a thread of its own.
    fresh = str(uuid.uuid4())
    made = client.runs.create(fresh, "lg_plain", input={"topic": "new"}, if_not_exists="create")
    assert client.runs.join(fresh, made["run_id"])["greeting"].endswith(": new")
    # A Steward run's own thread (a stateless run's) is not the SDK's to take.
    alone = client.runs.create(None, "lg_plain", input={"topic": "alone"})
    assert alone["thread_id"] == alone["run_id"]
    assert _status_of(lambda: client.runs.create(alone["run_id"], "lg_plain", input={"topic": "x"}, if_not_exists="create"))[0] == 409
    stateless = client.runs.wait(None, "known", input={"topic": "x"})
    assert stateless["result"] and Run.objects.filter(agent__key="known", status="succeeded").count() == 1

    # A reviewer reads threads and runs, but may not start them.
    assert client.threads.get(tid)["thread_id"] == tid
    reviewer_client = get_sync_client(url=sdk_url, api_key=key_of(reviewer))
    assert reviewer_client.threads.get(tid)["thread_id"] == tid
    assert _status_of(lambda: reviewer_client.runs.create(tid, "question", input={"topic": "x"}))[0] == 403


def test_bad_requests_get_the_errors_the_sdk_reads(sdk_url: str, key_of: Any, engineer: Any) -> None:
    key = key_of(engineer)
    with httpx.Client(base_url=sdk_url, headers={"x-api-key": key}) as http:
        assert http.post("/threads", content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 400
        assert http.post("/threads", json={}, headers={"x-api-key": ""}).status_code == 401
        # The same key as a Bearer token.
        bearer = http.post("/threads", json={"metadata": {"via": "bearer"}}, headers={"x-api-key": "", "Authorization": f"Bearer {key}"})
        assert bearer.status_code == 200 and bearer.json()["metadata"] == {"via": "bearer"}
        tid = bearer.json()["thread_id"]
        assert http.post("/threads", json={"thread_id": tid}).status_code == 409
        assert http.post("/threads", json={"thread_id": tid, "if_exists": "do_nothing"}).json()["thread_id"] == tid
        assert http.post("/threads/search", json={"limit": "many"}).status_code == 422
        assert http.post("/threads/search", json={"status": "sleepy"}).status_code == 422
        assert http.get(f"/threads/{tid}/runs/not-a-uuid").status_code == 404
        assert http.get(f"/threads/{tid}/runs", params={"status": "sleepy"}).status_code == 422
        assert http.post(f"/threads/{tid}/runs", json={"input": {}}).status_code == 422  # no assistant_id
        assert http.post(f"/threads/{tid}/runs", json={"assistant_id": "known", "command": {"resume": 1}}).status_code == 409
        assert http.put(f"/threads/{tid}", json={}).status_code == 405
        # What is not implemented says so, in JSON.
        for path in ("/runs/batch", "/store/unknown"):
            response = http.post(path, json={})
            assert response.status_code == 404 and "not implemented" in response.json()["detail"], path


def test_a_run_calls_its_webhook_when_it_stops(outbound_allows_loopback: None, receiver: Any, sdk_url: str, key_of: Any, engineer: Any) -> None:
    hook = receiver()
    client = get_sync_client(url=sdk_url, api_key=key_of(engineer))
    tid = client.threads.create()["thread_id"]
    # The outbound check of queue webhooks: an internal address is refused when the run is created.
    status, body = _status_of(lambda: client.runs.create(tid, "lg_plain", input={"topic": "x"}, webhook="http://10.1.2.3/hook"))
    assert status == 422 and body["detail"][0]["loc"] == ["body", "webhook"]
    assert client.runs.list(tid) == []

    run = client.runs.create(tid, "lg_plain", input={"topic": "tea"}, webhook=hook.url)
    client.runs.join(tid, run["run_id"])
    (delivered,) = wait_for(lambda: list(hook.received))
    sent = json.loads(delivered["body"])
    assert sent["run_id"] == run["run_id"] and sent["thread_id"] == tid and sent["status"] == "success"
    assert sent["values"]["topic"] == "tea"


@pytest.fixture
def two_starts_a_minute(settings: Any) -> None:
    settings.STEWARD_RATE_LIMIT_PER_MINUTE = 2


def test_run_starts_spend_the_api_budget(two_starts_a_minute: None, sdk_url: str, key_of: Any, engineer: Any) -> None:
    """The same per-user budget as POST /api/runs: the SDK is no way around it."""
    client = get_sync_client(url=sdk_url, api_key=key_of(engineer))
    tid = client.threads.create()["thread_id"]
    client.runs.create(tid, "lg_plain", input={"topic": "a"})
    client.runs.create(None, "lg_plain", input={"topic": "b"})
    with httpx.Client(base_url=sdk_url, headers={"x-api-key": key_of(engineer)}) as http:
        refused = http.post("/runs", json={"assistant_id": "lg_plain", "input": {"topic": "c"}})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "too many run starts" in refused.json()["detail"]
    assert Run.objects.filter(agent__key="lg_plain").count() == 2
