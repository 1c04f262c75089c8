"""Streaming in the embedded mode (`manage.py serve_embedded`: SQLite, the memory broker, the
worker a thread of the server): the parts go through the in-process ring, not Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_sync_client

from tests.support.embedded import embedded_env, embedded_server, manage


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[tuple[str, str]]:
    env = embedded_env(tmp_path, STEWARD_AGENT_MODULES="tests.support.graphs")
    manage(env, "migrate", "--noinput")
    manage(env, "seed_demo")
    key = manage(env, "create_api_key", "engineer").strip().splitlines()[-1]
    with embedded_server(env, tmp_path / "server.log") as base:
        yield f"{base}/langgraph", key


def _tokens(parts: list[Any]) -> list[str]:
    return [p.data[0]["content"] for p in parts if p.event == "messages" and p.data[0]["content"]]


def test_embedded_server_streams_tokens_and_replays_a_resumable_run(embedded: tuple[str, str]) -> None:
    """The same parts as on Postgres and Redis; a client that left rejoins with its last event id
    and gets the rest from the ring."""
    url, key = embedded
    client = get_sync_client(url=url, api_key=key)
    message = {"messages": [{"role": "user", "content": "one two three four"}]}
    whole = list(
        client.runs.stream(None, "stream_chat", input=message, stream_mode=["messages-tuple", "custom"])
    )
    assert whole[0].event == "metadata" and whole[-1].event == "end" and whole[-1].data["status"] == "success"
    assert _tokens(whole) == ["echo:", " one", " two", " three", " four"]
    assert [p.data for p in whole if p.event == "custom"] == [
        {"progress": "calling the model"},
        {"progress": "done"},
    ]

    thread = client.threads.create()
    first: list[Any] = []
    for part in client.runs.stream(
        thread["thread_id"], "stream_chat", input=message, stream_mode="messages-tuple", stream_resumable=True
    ):
        first.append(part)
        if part.event == "messages":
            break
    rest = list(
        client.runs.join_stream(thread["thread_id"], first[0].data["run_id"], last_event_id=first[-1].id)
    )
    assert _tokens(first + rest) == ["echo:", " one", " two", " three", " four"]
    assert rest[-1].event == "end"
