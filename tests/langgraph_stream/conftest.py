"""The LangGraph SDK against a real Steward: daphne (console.asgi) and a Celery worker, each in its
own process on the test database, broker and Redis; the SDK's clients in the test process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from console.kernel.models import ApiKey
from tests.support.processes import (
    WORKER_PROCESS,
    free_port,
    server_env,
    start_process,
    stop_process,
    wait_until_up,
)

# The SDK's sync client runs no event loop, but the async tests' loops must not trip Django's
# async-safety check on the ORM calls the tests make between two SDK calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


# The web process of each server the fixture started, by its base URL (memory checks read its RSS).
DAPHNE_PIDS: dict[str, int] = {}


@dataclass
class Steward:
    url: str  # the LangGraph API's root, as get_client(url=...) takes it
    key: str  # an engineer's API key
    reviewer_key: str




@pytest.fixture(scope="package")
def steward_server(django_db_setup: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Daphne and a worker for these tests (each test has its own users and keys)."""
    from console.celery import app

    app.control.purge()
    logs = tmp_path_factory.mktemp("steward")
    port = free_port()
    env = server_env()
    server = start_process(
        ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "console.asgi:application"],
        env,
        logs / "daphne.log",
    )
    worker = start_process(WORKER_PROCESS, env, logs / "worker.log")
    base = f"http://127.0.0.1:{port}"
    DAPHNE_PIDS[base] = server.pid
    try:
        wait_until_up(base, server)
        yield base
    finally:
        stop_process(worker, grace=20)
        stop_process(server)


@pytest.fixture
def steward(steward_server: str, transactional_db: Any, engineer: Any, reviewer: Any) -> Steward:
    return Steward(f"{steward_server}/langgraph", ApiKey.issue(engineer)[1], ApiKey.issue(reviewer)[1])
