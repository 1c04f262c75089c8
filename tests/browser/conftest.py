"""Browser tests: Debian's chromium driven by Playwright against a real ASGI server (daphne, in
its own process, on the test database) with websockets, and a real Celery worker."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.harness.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import free_port, server_env, wait_until_up

# Playwright's sync API runs an event loop in this thread; the ORM calls in these tests are
# plain synchronous code all the same.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parents[2]


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
def asgi_server(transactional_db: Any, tmp_path: Path) -> Iterator[str]:
    """Daphne serving console.asgi on the test database and the test Redis (channel layer)."""
    env = server_env()
    port = free_port()
    log = open(tmp_path / "daphne.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "console.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    try:
        wait_until_up(base, server)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


def login(context: Any, base: str, username: str) -> Any:
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User

    # The server runs on the normal settings, which do not accept the tests' fast MD5 hashes.
    User.objects.filter(username=username).update(password=make_password("pw-" + username, hasher="pbkdf2_sha256"))
    page = context.new_page()
    page.goto(base + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw-" + username)
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    return page
