"""`runs.stream`, `join_stream` and their errors, through the real `langgraph_sdk` clients."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.errors import NotFoundError, UnprocessableEntityError

from agents.engine.models import Run
from agents.engine.services import start_run
from approvals.models import ApprovalRequest, Queue
from tests.langgraph_stream.conftest import Steward
from tests.support.waiting import wait_for
from traces.recording.models import Span

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

HELLO = {"messages": [{"role": "user", "content": "hello there"}]}


def _text(part_data: Any) -> str:
    message, _metadata = part_data
    return str(message["content"])


def test_sync_client_streams_values_updates_tokens_and_custom(steward: Steward) -> None:
    """The modes come as the SDK names them: `metadata` first, then `values`, `updates`, each
    model token as a `messages` part (message chunk, metadata), the node's `custom` writes, and
    `end`; the run is an ordinary Steward run with its spans."""
    client = get_sync_client(url=steward.url, api_key=steward.key)
    thread = client.threads.create()
    created: list[Any] = []
    parts = list(
        client.runs.stream(
            thread["thread_id"],
            "stream_chat",
            input=HELLO,
            stream_mode=["values", "updates", "messages-tuple", "custom"],
            on_run_created=created.append,
        )
    )
    events = [p.event for p in parts]
    assert events[0] == "metadata" and events[-1] == "end", events
    run_id = parts[0].data["run_id"]
    assert created and created[0]["run_id"] == run_id and created[0]["thread_id"] == thread["thread_id"]
    # (langchain-core ends a streamed reply with an empty chunk)
    tokens = [_text(p.data) for p in parts if p.event == "messages" and _text(p.data)]
    assert tokens == ["echo:", " hello", " there"]
    assert all(
        p.data[0]["type"] == "AIMessageChunk" and p.data[1]["langgraph_node"] == "call_model"
        for p in parts
        if p.event == "messages"
    )
    assert [p.data for p in parts if p.event == "custom"] == [
        {"progress": "calling the model"},
        {"progress": "done"},
    ]
    updates = [p.data for p in parts if p.event == "updates"]
    assert (
        list(updates[-1]) == ["call_model"]
        and updates[-1]["call_model"]["messages"][0]["content"] == "echo: hello there"
    )
    final = [p.data for p in parts if p.event == "values"][-1]
    assert [m["content"] for m in final["messages"]] == ["hello there", "echo: hello there"]
    assert parts[-1].data["status"] == "success"

    run = Run.objects.get(id=run_id)
    assert (
        run.status == "succeeded" and run.thread_id == thread["thread_id"] and run.agent.key == "stream_chat"
    )
    assert set(Span.objects.filter(run=run).values_list("kind", flat=True)) >= {"node", "model"}


def test_messages_mode_and_subgraph_parts(steward: Steward) -> None:
    """Stateless `runs.stream` with `stream_subgraphs`: the subgraph's parts are named
    `mode|namespace`; the "messages" mode sends metadata, partial and the full message so far."""
    client = get_sync_client(url=steward.url, api_key=steward.key)
    nested = list(
        client.runs.stream(
            None,
            "stream_nested",
            input={"log": []},
            stream_mode=["updates", "debug", "tasks", "checkpoints"],
            stream_subgraphs=True,
        )
    )
    names = [p.event for p in nested]
    assert any(n.startswith("updates|child:") for n in names), names
    inner = next(p for p in nested if p.event.startswith("updates|child:"))
    assert inner.data == {"inner_step": {"log": ["inner"]}}
    assert "updates" in names and any(n.startswith("debug") for n in names)
    assert any(n == "tasks" for n in names) and any(n == "checkpoints" for n in names)
    assert names[-1] == "end"

    chat = list(
        client.runs.stream(None, "stream_chat", input=HELLO, stream_mode=["messages", "events", "lifecycle"])
    )
    names = [p.event for p in chat]
    assert "messages/metadata" in names
    partials = [p.data[0]["content"] for p in chat if p.event == "messages/partial"]
    assert list(dict.fromkeys(partials)) == ["echo:", "echo: hello", "echo: hello there"]
    assert [p.data["event"] for p in chat if p.event == "lifecycle"] == ["running", "completed"]
    streamed = [
        p.data["data"]["chunk"]["content"]
        for p in chat
        if p.event == "events" and p.data["event"] == "on_chat_model_stream"
    ]
    streamed = [s for s in streamed if s]
    assert streamed == ["echo:", " hello", " there"]


def test_first_token_reaches_the_client_before_the_run_ends(steward: Steward) -> None:
    """Tokens are relayed as the model produces them (50 ms apart), not when the run ends: the
    issue's bound, a lower one (a slow machine only widens the gap; buffering closes it)."""

    async def stream() -> list[tuple[str, float]]:
        client = get_client(url=steward.url, api_key=steward.key)
        seen = []
        async for part in client.runs.stream(
            None,
            "stream_chat",
            input={"messages": [{"role": "user", "content": "a b c d e f"}]},
            stream_mode="messages-tuple",
        ):
            seen.append((part.event, time.monotonic()))
        return seen

    seen = asyncio.run(stream())
    first_token = next(t for e, t in seen if e == "messages")
    end = next(t for e, t in seen if e == "end")
    assert end - first_token >= 0.1, seen


def test_resumable_stream_rejoined_after_a_disconnect_replays_what_was_missed(steward: Steward) -> None:
    """A client that drops a resumable stream after two tokens rejoins with the last event id
    it saw and receives every later part exactly once, then `end`; the run was not stopped."""

    async def scenario() -> tuple[list[Any], list[Any]]:
        client = get_client(url=steward.url, api_key=steward.key)
        thread = await client.threads.create()
        first: list[Any] = []
        async for part in client.runs.stream(
            thread["thread_id"],
            "stream_chat",
            input={"messages": [{"role": "user", "content": "one two three four five six"}]},
            stream_mode=["messages-tuple", "values"],
            stream_resumable=True,
        ):
            first.append(part)
            if sum(1 for p in first if p.event == "messages") == 2:
                break  # the client goes away mid-run
        await asyncio.sleep(0.5)  # the run goes on without it
        run_id = first[0].data["run_id"]
        rest = [
            p async for p in client.runs.join_stream(thread["thread_id"], run_id, last_event_id=first[-1].id)
        ]
        # Joined again from its first part, asking for the values only.
        values = [
            p
            async for p in client.runs.join_stream(
                thread["thread_id"], run_id, stream_mode="values", last_event_id=first[1].id
            )
        ]
        assert {p.event for p in values} == {"values", "end"}, values
        return first, rest

    first, rest = asyncio.run(scenario())
    run = Run.objects.get(id=first[0].data["run_id"])
    stream = f"{steward.url}/threads/{run.thread_id}/runs/{run.id}/stream"
    bad_id = httpx.get(stream, headers={"x-api-key": steward.key, "Last-Event-ID": "nope"})
    assert bad_id.status_code == 400 and "Last-Event-ID" in bad_id.json()["detail"]
    bad_mode = httpx.get(stream, headers={"x-api-key": steward.key}, params={"stream_mode": "tokens"})
    assert bad_mode.status_code == 422 and "'tokens'" in bad_mode.json()["detail"]
    assert all(p.id for p in first[1:]), first
    tokens = [_text(p.data) for p in first + rest if p.event == "messages" and _text(p.data)]
    assert tokens == ["echo:", " one", " two", " three", " four", " five", " six"]
    assert rest[-1].event == "end" and rest[-1].data["status"] == "success"
    assert Run.objects.get(id=first[0].data["run_id"]).status == "succeeded"


def test_disconnect_with_on_disconnect_cancel_cancels_the_run(steward: Steward) -> None:
    """`on_disconnect="cancel"`: the client that goes away takes its run with it."""
    client = get_sync_client(url=steward.url, api_key=steward.key)
    run_id = None
    for part in client.runs.stream(
        None,
        "stream_chat",
        input={"messages": [{"role": "user", "content": " ".join(["w"] * 60)}]},
        stream_mode="messages-tuple",
        on_disconnect="cancel",
    ):
        if part.event == "metadata":
            run_id = part.data["run_id"]
        if part.event == "messages":
            break
    client.http.client.close()
    wait_for(lambda: Run.objects.get(id=run_id).status == "cancelled", timeout=20)


def test_unknown_mode_and_new_thread_endpoints_answer_errors(steward: Steward) -> None:
    """A stream mode that does not exist is a 422 with a detail naming it; the newer thread
    endpoints are a 404 that says they are not implemented; a bad key is a 401."""
    client = get_sync_client(url=steward.url, api_key=steward.key)
    with pytest.raises(UnprocessableEntityError) as refused:
        list(client.runs.stream(None, "stream_chat", input=HELLO, stream_mode=["values", "tokens"]))  # type: ignore[list-item]
    assert "'tokens'" in refused.value.message
    assert not Run.objects.filter(agent__key="stream_chat").exists()
    thread_id = str(uuid.uuid4())
    for path in (f"/threads/{thread_id}/commands", f"/threads/{thread_id}/stream/events"):
        answer = httpx.post(steward.url + path, headers={"x-api-key": steward.key}, json={})
        assert answer.status_code == 404 and "not implemented" in answer.json()["detail"]
    with pytest.raises(NotFoundError):
        list(client.runs.join_stream(thread_id, str(uuid.uuid4())))
    bad = httpx.post(
        steward.url + "/runs/stream", headers={"x-api-key": "stw_nope"}, json={"assistant_id": "stream_chat"}
    )
    assert bad.status_code == 401 and bad.json()["detail"]


def test_async_client_resumes_an_interrupt_through_the_stream_endpoint(steward: Steward) -> None:
    """The first stream ends `interrupted` with the interrupt in `updates`; the requester may not
    answer it (403, nothing changes: its queue keeps questions for reviewers); a reviewer's
    `command` resume streams the rest of the run."""
    from langgraph_sdk.errors import PermissionDeniedError

    Queue.objects.filter(name="default").update(requester_may_answer=Queue.RequesterMayAnswer.NEVER)

    async def scenario() -> tuple[list[Any], list[Any]]:
        engineer = get_client(url=steward.url, api_key=steward.key)
        reviewer = get_client(url=steward.url, api_key=steward.reviewer_key)
        thread = await engineer.threads.create()
        first = [
            p
            async for p in engineer.runs.stream(
                thread["thread_id"], "stream_ask", input=HELLO, stream_mode=["updates"]
            )
        ]
        with pytest.raises(PermissionDeniedError):
            [
                p
                async for p in engineer.runs.stream(
                    thread["thread_id"], "stream_ask", command={"resume": "A-1"}
                )
            ]
        resumed = [
            p
            async for p in reviewer.runs.stream(
                thread["thread_id"], "stream_ask", command={"resume": "A-1001"}, stream_mode=["values"]
            )
        ]
        return first, resumed

    first, resumed = asyncio.run(scenario())
    assert first[-1].event == "end" and first[-1].data["status"] == "interrupted"
    interrupt = next(
        p.data["__interrupt__"][0] for p in first if p.event == "updates" and "__interrupt__" in p.data
    )
    assert interrupt["value"] == "Which order?"
    assert [p.event for p in resumed][0] == "metadata" and resumed[0].data["run_id"] == first[0].data[
        "run_id"
    ]
    final = [p.data for p in resumed if p.event == "values"][-1]
    assert [m["content"] for m in final["messages"]][-2:] == ["A-1001", "echo: A-1001"]
    assert resumed[-1].data["status"] == "success"
    assert Run.objects.get(id=first[0].data["run_id"]).status == "succeeded"


def test_a_failed_run_streams_error_then_end(steward: Steward) -> None:
    """The node's exception reaches the client as an `error` part, then `end` with status error."""
    client = get_sync_client(url=steward.url, api_key=steward.key)
    parts = list(
        client.runs.stream(None, "stream_chat", input={"messages": [{"role": "user", "content": "fail"}]})
    )
    assert [p.event for p in parts][-2:] == ["error", "end"]
    assert parts[-2].data == {"error": "RuntimeError", "message": "the model is down"}
    assert parts[-1].data["status"] == "error"
    assert Run.objects.get(id=parts[0].data["run_id"]).status == "failed"


def test_joining_a_run_started_without_streaming_ends_when_it_stops(steward: Steward, engineer: Any) -> None:
    """A run nobody streams publishes nothing; `join_stream` still ends, with its status."""
    run = start_run("stream_chat", HELLO, engineer)
    client = get_sync_client(url=steward.url, api_key=steward.key)
    parts = list(client.runs.join_stream(run.thread_id, str(run.id)))
    assert [(p.event, p.data) for p in parts] == [("end", {"run_id": str(run.id), "status": "success"})]
    assert "langgraph_stream" not in Run.objects.get(id=run.id).metadata


def test_an_async_graph_streams_its_tokens_too(steward: Steward) -> None:
    """An `async def` node's model tokens and custom writes stream like a sync node's."""
    client = get_sync_client(url=steward.url, api_key=steward.key)
    parts = list(
        client.runs.stream(None, "stream_async_chat", input=HELLO, stream_mode=["messages-tuple", "custom"])
    )
    assert [_text(p.data) for p in parts if p.event == "messages" and _text(p.data)] == [
        "echo:",
        " hello",
        " there",
    ]
    assert [p.data for p in parts if p.event == "custom"] == [{"progress": "calling the model"}]
    assert parts[-1].event == "end" and parts[-1].data["status"] == "success"


def test_a_resume_the_agent_refuses_streams_the_same_interrupt_not_an_error(steward: Steward) -> None:
    """The node raised on the resume value: the stream ends `interrupted` at the same interrupt,
    in the parts a first stop at it came in, with no `error` part."""
    asker = get_sync_client(url=steward.url, api_key=steward.key)
    answerer = get_sync_client(url=steward.url, api_key=steward.reviewer_key)
    tid = asker.threads.create()["thread_id"]
    modes: list[Any] = ["updates", "values"]
    first = list(asker.runs.stream(tid, "order_units", input={"item": "pins"}, stream_mode=modes))

    def stops(parts: list[Any]) -> list[tuple[str, list[str]]]:
        return [
            (p.event, [i["id"] for i in p.data["__interrupt__"]])
            for p in parts
            if isinstance(p.data, dict) and "__interrupt__" in p.data
        ]

    ((_, (interrupt_id,)), *_) = stops(first)
    refused = list(answerer.runs.stream(tid, "order_units", command={"resume": {interrupt_id: "heaps"}}, stream_mode=modes))
    assert "error" not in [p.event for p in refused]
    assert refused[-1].event == "end" and refused[-1].data["status"] == "interrupted"
    assert stops(refused) == [(event, [interrupt_id]) for event, _ in stops(first)]
    assert ApprovalRequest.objects.get(interrupt_id=interrupt_id).status == "pending"

    done = list(answerer.runs.stream(tid, "order_units", command={"resume": {interrupt_id: 4}}, stream_mode=modes))
    assert done[-1].data["status"] == "success" and stops(done) == []
    assert [p.data for p in done if p.event == "values"][-1]["placed"] == "4 x pins"
