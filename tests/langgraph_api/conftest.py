"""The LangGraph API tests: `langgraph_sdk` clients against daphne (its own process, on the test
database) and a real Celery worker (a thread of this process, so the test agents' side effects
are visible here), Postgres and Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from console.kernel.models import ApiKey
from tests.support.processes import ROOT, free_port, server_env, start_process, stop_process, wait_until_up

LANGGRAPH_JSON = ROOT / "tests" / "support" / "lg_agents" / "langgraph.json"

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def sdk_url(celery_worker: Any, settings: Any, tmp_path: Path) -> Iterator[str]:
    """The `/langgraph` URL of a daphne server serving the test agents and langgraph.json's graphs."""
    settings.STEWARD_LANGGRAPH_JSON = str(LANGGRAPH_JSON)
    port = free_port()
    server = start_process(
        ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "console.asgi:application"],
        # The outbound allow-list and the rate limit as the test set them (fixtures asked for first).
        server_env(
            STEWARD_LANGGRAPH_JSON=str(LANGGRAPH_JSON),
            STEWARD_OUTBOUND_ALLOW=settings.STEWARD_OUTBOUND_ALLOW or "",
            STEWARD_RATE_LIMIT_PER_MINUTE=str(settings.STEWARD_RATE_LIMIT_PER_MINUTE),
        ),
        tmp_path / "daphne.log",
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, server)
        yield f"{base}/langgraph"
    finally:
        stop_process(server)


@pytest.fixture
def key_of() -> Callable[[User], str]:
    """A real API key of the user, as the SDK's `api_key`."""

    def issue(user: User) -> str:
        return ApiKey.issue(user)[1]

    return issue
