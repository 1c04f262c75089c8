"""The LangGraph API tests: `langgraph_sdk` clients against daphne (its own process, on the test
database) and a real Celery worker (a thread of this process, so the test agents' side effects
are visible here), Postgres and Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User

from console.kernel.models import ApiKey
from tests.support.processes import ROOT, AsgiServers

LANGGRAPH_JSON = ROOT / "tests" / "support" / "lg_agents" / "langgraph.json"

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def sdk_url(celery_worker: Any, settings: Any, asgi_servers: AsgiServers) -> str:
    """The `/langgraph` URL of a daphne server serving the test agents and langgraph.json's graphs."""
    settings.STEWARD_LANGGRAPH_JSON = str(LANGGRAPH_JSON)
    # The outbound allow-list, the rate limit and CORS as the test set them (fixtures asked for
    # first); tests that set them alike share a server.
    base = asgi_servers.base(
        STEWARD_LANGGRAPH_JSON=str(LANGGRAPH_JSON),
        STEWARD_OUTBOUND_ALLOW=settings.STEWARD_OUTBOUND_ALLOW or "",
        STEWARD_RATE_LIMIT_PER_MINUTE=str(settings.STEWARD_RATE_LIMIT_PER_MINUTE),
        STEWARD_LANGGRAPH_CORS_ORIGINS=",".join(settings.STEWARD_LANGGRAPH_CORS_ORIGINS),
    )
    return f"{base}/langgraph"


@pytest.fixture
def key_of() -> Callable[[User], str]:
    """A real API key of the user, as the SDK's `api_key`."""

    def issue(user: User) -> str:
        return ApiKey.issue(user)[1]

    return issue
