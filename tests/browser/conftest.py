"""Browser tests: Debian's chromium driven by Playwright against a real ASGI server (daphne, in
its own process, on the test database) with websockets, and a real Celery worker."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.harness.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.support.processes import AsgiServers

# Playwright's sync API runs an event loop in this thread; the ORM calls in these tests are
# plain synchronous code all the same.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope: Playwright's sync API keeps an event loop running in this thread while it is
    # open, and later tests that call async_to_sync must not find one.
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def asgi_server(transactional_db: Any, asgi_servers: AsgiServers) -> str:
    """Daphne serving console.asgi on the test database and the test Redis (channel layer)."""
    return asgi_servers.base()
