"""Shared fixtures: the three roles, API clients with real keys, a real Celery worker."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.test import Client

from approvals.defaults import ensure_defaults
from approvals.models import Queue
from console.kernel.models import ApiKey


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # With REQUIRE_SERVICES=1 the settings already refuse to load without the services.
    for item in items:
        if "postgres" in item.keywords and not settings.POSTGRES_AVAILABLE:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (set REQUIRE_SERVICES=1 to fail instead)"))
        if "redis" in item.keywords and not settings.REDIS_AVAILABLE:
            item.add_marker(pytest.mark.skip(reason="needs Redis (set REQUIRE_SERVICES=1 to fail instead)"))


@pytest.fixture(scope="session", autouse=True)
def _close_pools_before_teardown(django_db_setup: Any, django_db_blocker: Any) -> Iterator[None]:
    yield
    # The test database is dropped after this: no connection of ours may still be open.
    from django.db import connections

    from agents.engine.checkpointer import close_pool

    close_pool()
    connections.close_all()


@pytest.fixture
def roles(db: Any) -> None:
    ensure_defaults(Group, Queue)


def make_user(username: str, *groups: str, **extra: Any) -> User:
    user = User.objects.create_user(username=username, password="pw-" + username, **extra)
    for name in groups:
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    return user


@pytest.fixture
def engineer(roles: None) -> User:
    return make_user("engineer", "engineers")


@pytest.fixture
def reviewer(roles: None) -> User:
    return make_user("reviewer", "reviewers")


@pytest.fixture
def admin_user(roles: None) -> User:
    return make_user("admin", "admins", is_staff=True, is_superuser=True)


@pytest.fixture
def outsider(roles: None) -> User:
    return make_user("outsider")


class ApiClient:
    """A JSON client that authenticates with a real API key, the way programs do."""

    def __init__(self, user: User | None) -> None:
        self.client = Client()
        self.headers: dict[str, str] = {}
        if user is not None:
            _, raw = ApiKey.issue(user)
            self.headers["Authorization"] = f"Bearer {raw}"

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params, headers=self.headers)

    def post(self, path: str, body: Any = None, raw: str | None = None) -> Any:
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return self.client.post(path, data, content_type="application/json", headers=self.headers)


@pytest.fixture
def api() -> Callable[[User | None], ApiClient]:
    return ApiClient


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


@pytest.fixture
def purge_broker() -> None:
    from console.celery import app

    app.control.purge()


@pytest.fixture
def celery_worker(transactional_db: Any, purge_broker: None) -> Iterator[Any]:
    """A real Celery worker (a thread in this process) on the configured broker."""
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun
    from django.db import connections

    from console.celery import app

    def close_connections(**_: Any) -> None:
        # The flush after a transactional test must not wait on this thread's connection.
        connections.close_all()

    task_postrun.connect(close_connections, weak=False)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=20, loglevel="WARNING") as worker:
            yield worker
    finally:
        task_postrun.disconnect(close_connections)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(**extra: str) -> dict[str, str]:
    """Environment for a worker or server process on the test database, broker and layer."""
    import os

    from django.db import connection

    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "console.settings",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CHANNEL_LAYER_URL": settings.CHANNEL_LAYER_URL,
            "STEWARD_AGENT_MODULES": "tests.agents.graphs",
            **extra,
        }
    )
    return env


def wait_until_up(base: str, process: Any, timeout: float = 30.0) -> None:
    """Wait for `GET /healthz`; fail at once if the server process died."""
    import urllib.request

    def up() -> bool:
        assert process.poll() is None, f"server exited with {process.returncode}"
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1):
                return True
        except OSError:
            return False

    wait_for(up, timeout=timeout, interval=0.2)


@contextmanager
def json_log_lines(levels: dict[str, int]) -> Iterator[StringIO]:
    """What the JSON formatter settings install writes, from a handler on the root logger into a
    buffer. Each logger in `levels` is set to its level and enabled for the while, whatever an
    earlier test left it at (one CI run lost a line that way), then put back."""
    from console.kernel.logs import formatter

    stream = StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter("json"))
    root = logging.getLogger()
    saved = {name: (logging.getLogger(name).level, logging.getLogger(name).disabled) for name in levels}
    root.addHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
        logging.getLogger(name).disabled = False
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        for name, (level, disabled) in saved.items():
            logging.getLogger(name).setLevel(level)
            logging.getLogger(name).disabled = disabled
