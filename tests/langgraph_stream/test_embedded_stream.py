"""Streaming in the embedded mode (`manage.py serve_embedded`: SQLite, the memory broker, the
worker a thread of the server): the parts go through the in-process ring, not Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_sync_client

from tests.support.processes import (
    free_port,
    fresh_django,
    fresh_env,
    start_process,
    stop_process,
    wait_until_up,
)


def _manage(env: dict[str, str], *args: str) -> str:
    done = fresh_django("manage.py", *args, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[tuple[str, str]]:
    env = fresh_env(
        without=("DATABASE_URL", "CELERY_BROKER_URL", "CHANNEL_LAYER_URL", "STEWARD_RUN_EVENTS_URL"),
        STEWARD_VAR_DIR=str(tmp_path),
        STEWARD_AGENT_MODULES="tests.support.graphs",
    )
    _manage(env, "migrate", "--noinput")
    _manage(env, "seed_demo")
    key = _manage(env, "create_api_key", "engineer").strip().splitlines()[-1]
    port = free_port()
    server = start_process(["manage.py", "serve_embedded", "--port", str(port)], env, tmp_path / "server.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, server)
        yield f"{base}/langgraph", key
    finally:
        stop_process(server, grace=20)


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
