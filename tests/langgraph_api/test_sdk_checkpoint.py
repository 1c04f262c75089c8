"""Running a thread again from one of its checkpoints (`checkpoint_id`, LangGraph's time travel)
through `get_sync_client`: a live replay on the thread itself, by an engineer. The nodes after the
checkpoint run again and are recorded on the new run, gates ask again, the thread's state follows."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.schema import Command

from agents.engine.models import Run
from approvals.models import ApprovalRequest
from console.kernel.models import AuditEvent
from traces.recording.models import Span

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]


def _status_of(call: Any) -> tuple[int, Any]:
    with pytest.raises(httpx.HTTPStatusError) as caught:
        call()
    return caught.value.response.status_code, caught.value.response.json()


def _nodes(run_id: str) -> list[str]:
    return list(Span.objects.filter(run_id=run_id, kind="node").order_by("seq").values_list("name", flat=True))


def _checkpoint_before(client: Any, tid: str, node: str) -> str:
    """The oldest checkpoint of the thread with `node` next."""
    history = client.threads.get_history(tid, limit=100)
    return str([h for h in history if h["next"] == [node]][-1]["checkpoint"]["checkpoint_id"])


def test_a_run_from_a_checkpoint_runs_the_nodes_after_it_again(sdk_url: str, key_of: Any, engineer: Any, reviewer: Any) -> None:
    client = get_sync_client(url=sdk_url, api_key=key_of(engineer))
    tid = client.threads.create()["thread_id"]
    first = client.runs.wait(tid, "lg_plain", input={"topic": "alpha beta"})
    assert first["greeting"].endswith(": alpha beta")
    source = Run.objects.get(thread_id=tid)
    before_count = _checkpoint_before(client, tid, "count")
    before_greet = _checkpoint_before(client, tid, "greet")

    # Bad requests first: nothing runs, nothing is forked.
    reviewer_client = get_sync_client(url=sdk_url, api_key=key_of(reviewer))
    assert _status_of(lambda: reviewer_client.runs.create(tid, "lg_plain", checkpoint_id=before_count))[0] == 403
    assert _status_of(lambda: client.runs.create(tid, "lg_plain", checkpoint_id="1f0-no-such"))[0] == 404
    status, body = _status_of(lambda: client.runs.create(tid, "lg_plain", checkpoint_id=before_count, multitask_strategy="enqueue"))
    assert status == 422 and body["detail"][0]["loc"] == ["body", "multitask_strategy"]
    assert _status_of(lambda: client.runs.create(None, "lg_plain", input={"topic": "x"}, checkpoint_id=before_count))[0] == 422
    assert _status_of(lambda: client.runs.create(tid, "lg_plain", command=Command(goto="count"), checkpoint_id=before_count))[0] == 422
    assert len(client.threads.get_history(tid, limit=100)) == 4 and Run.objects.filter(thread_id=tid).count() == 1

    # No input: the graph continues from the checkpoint; only `count` runs again.
    again = client.runs.create(tid, "lg_plain", checkpoint_id=before_count)
    assert client.runs.join(tid, again["run_id"]) == first
    assert client.runs.get(tid, again["run_id"])["status"] == "success"
    assert _nodes(again["run_id"]) == ["count"]
    replayed = Run.objects.get(id=again["run_id"])
    assert replayed.parent_run_id == source.id and replayed.thread_id == tid
    meta = replayed.metadata["replay"]
    assert meta["mode"] == "live" and meta["checkpoint_id"] == before_count and meta["source_run_id"] == str(source.id)
    assert [n["name"] for n in meta["preview"]["nodes"]] == ["count"]
    assert AuditEvent.objects.filter(action="run.replayed", object_id=str(replayed.id), actor=engineer).exists()
    # The thread's state comes from the new run's checkpoint, whose line goes back to the chosen one.
    state = client.threads.get_state(tid)
    assert state["values"] == first and state["metadata"]["steward_run_id"] == again["run_id"]
    fork = client.threads.get_state(tid, checkpoint_id=state["parent_checkpoint"]["checkpoint_id"])
    assert fork["metadata"]["source"] == "fork" and fork["parent_checkpoint"]["checkpoint_id"] == before_count

    # New input from an earlier checkpoint: a new turn from that state; both nodes run.
    turn = client.runs.wait(tid, "lg_plain", input={"topic": "gamma"}, checkpoint_id=before_greet)
    assert turn["topic"] == "gamma" and turn["greeting"] == first["greeting"].replace("alpha beta", "gamma")
    assert turn["words"] == first["words"] - 1
    newest = Run.objects.filter(thread_id=tid).order_by("-created_at").first()
    assert newest is not None and _nodes(str(newest.id)) == ["greet", "count"]
    assert client.threads.get_state(tid)["values"]["greeting"].endswith(": gamma")
    # The old branch stays in the history.
    assert client.threads.get_state(tid, checkpoint_id=before_count)["values"]["greeting"] == first["greeting"]

    # A client's own `replay` metadata does not make a run a replay (it is Steward's key).
    plain = client.runs.wait(tid, "lg_plain", input={"topic": "delta"}, metadata={"replay": {"mode": "live", "with_input": False}})
    assert plain["greeting"].endswith(": delta")
    newest = Run.objects.filter(thread_id=tid).order_by("-created_at").first()
    assert newest is not None and "replay" not in newest.metadata and newest.parent_run_id is None


def test_a_gate_asks_again_when_its_node_runs_again(sdk_url: str, key_of: Any, admin_user: Any, engineer: Any, reviewer: Any) -> None:
    asker = get_sync_client(url=sdk_url, api_key=key_of(admin_user))
    answerer = get_sync_client(url=sdk_url, api_key=key_of(reviewer))
    tid = asker.threads.create()["thread_id"]
    run = asker.runs.create(tid, "question", input={"topic": "order"})
    asker.runs.join(tid, run["run_id"])
    answerer.runs.create(tid, "question", command=Command(resume="A-12"))
    assert answerer.runs.join(tid, run["run_id"]) == {"topic": "order", "answer": "A-12"}
    before_ask = _checkpoint_before(asker, tid, "ask")

    # A thread waiting for a request the caller may not decide: going back past it is refused.
    waiting_tid = asker.threads.create()["thread_id"]
    asker.runs.join(waiting_tid, asker.runs.create(waiting_tid, "question", input={"topic": "x"})["run_id"])
    engineer_client = get_sync_client(url=sdk_url, api_key=key_of(engineer))
    waiting_checkpoint = _checkpoint_before(asker, waiting_tid, "ask")
    status, body = _status_of(
        lambda: engineer_client.runs.create(waiting_tid, "question", checkpoint_id=waiting_checkpoint, multitask_strategy="interrupt")
    )
    assert status == 409 and "may not decide" in body["detail"]

    # From the checkpoint before `ask`, no input (the agent's input schema is not asked for): the
    # question is asked again, as a new request of the new run.
    again = engineer_client.runs.create(tid, "question", checkpoint_id=before_ask)
    joined = engineer_client.runs.join(tid, again["run_id"])
    assert joined["__interrupt__"][0]["value"] == "What is the order id?" and joined["answer"] is None
    request = ApprovalRequest.objects.get(run_id=again["run_id"])
    assert request.status == "pending"
    assert Run.objects.get(id=again["run_id"]).metadata["replay"]["preview"]["approvals"]

    answerer.runs.create(tid, "question", command=Command(resume="A-77"))
    assert answerer.runs.join(tid, again["run_id"]) == {"topic": "order", "answer": "A-77"}
    assert _nodes(again["run_id"]) == ["ask", "ask"]
    assert asker.threads.get_state(tid)["values"]["answer"] == "A-77"
