"""Shared fixtures: the three roles, logged-in and API clients, an HTTP receiver, a real Celery
worker. The helpers they use are plain modules in tests/support/."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User

from approvals.defaults import ensure_defaults
from approvals.models import Queue
from tests.support.clients import ApiClient, ClientFor, logged_in
from tests.support.processes import AsgiServers
from tests.support.receivers import HttpReceiver
from tests.support.users import make_user


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


@pytest.fixture(scope="session", autouse=True)
def _flush_by_delete() -> Iterator[None]:
    """After a transactional test Django empties every table with one TRUNCATE, which on Postgres
    costs about 0.3 s whatever the tables hold (each gets a new file), several minutes over the
    suite. DELETE empties the few rows a test leaves in milliseconds, in one transaction with the
    foreign keys checked at its end; only tables whose trigger refuses DELETE (the append-only
    audit log) are still truncated."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    truncate = DatabaseOperations.sql_flush
    refusing: dict[str, set[str]] = {}

    def sql_flush(ops: Any, style: Any, tables: list[str], *, reset_sequences: bool = False, allow_cascade: bool = False) -> list[str]:
        if reset_sequences or allow_cascade or not tables:
            return truncate(ops, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        if "tables" not in refusing:
            with ops.connection.cursor() as cursor:
                cursor.execute("SELECT DISTINCT event_object_table FROM information_schema.triggers WHERE event_manipulation = 'DELETE'")
                refusing["tables"] = {row[0] for row in cursor.fetchall()}
        kept = [t for t in tables if t in refusing["tables"]]
        sql = ["SET CONSTRAINTS ALL DEFERRED"]
        sql += [f"DELETE FROM {ops.quote_name(t)}" for t in tables if t not in refusing["tables"]]
        return sql + (truncate(ops, style, kept) if kept else [])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "sql_flush", sql_flush)
        yield


@pytest.fixture(scope="session")
def asgi_servers(django_db_setup: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AsgiServers]:
    """Daphne servers on the test database, each started once for the session (see AsgiServers);
    stopped before the test database is dropped, which no connection of theirs may hold."""
    servers = AsgiServers(tmp_path_factory.mktemp("daphne"))
    try:
        yield servers
    finally:
        servers.close()


@pytest.fixture
def roles(db: Any) -> None:
    ensure_defaults(Group, Queue)


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


@pytest.fixture
def second_admin(admin_user: User) -> User:
    """Another admin beside `admin_user`: one who may decide what the first admin asked for."""
    return make_user("admin2", "admins")


@pytest.fixture
def client_for() -> ClientFor:
    """A browser-like client logged in as the given user (anonymous for None)."""
    return logged_in


@pytest.fixture
def api() -> Callable[[User | None], ApiClient]:
    """A JSON client with a real API key of the given user (none for None)."""
    return ApiClient


@pytest.fixture
def purge_broker() -> None:
    from console.celery import app

    app.control.purge()


@pytest.fixture
def broker_purged_after() -> Iterator[None]:
    """For tests that execute and deliver in-process: what they sent to the broker (runs, webhook
    deliveries) may not reach a later test's worker."""
    yield
    from console.celery import app

    app.control.purge()


@pytest.fixture
def receiver() -> Iterator[Callable[..., HttpReceiver]]:
    """Starts local HTTP receivers (`receiver(script, default, host=..., location=...,
    failure_body=...)`), closed after the test. Steward refuses to send to them unless the test
    also asks for `outbound_allows_loopback`."""
    started: list[HttpReceiver] = []

    def start(script: list[int] | None = None, default: int = 200, **options: Any) -> HttpReceiver:
        started.append(HttpReceiver(script, default, **options))
        return started[-1]

    yield start
    for r in started:
        r.close()


@pytest.fixture
def outbound_allows_loopback(settings: Any) -> None:
    """Lets Steward send webhooks to the local receivers (127.0.0.1), which it refuses by default."""
    settings.STEWARD_OUTBOUND_ALLOW = "127.0.0.1"


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
    # Stopping the worker waits for its pending BRPOP, which an idle worker renews every
    # `polling_interval` seconds (Redis's default 1 s, a second of every test's teardown).
    options = app.conf.broker_transport_options
    app.conf.broker_transport_options = {**options, "polling_interval": 0.05}
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=20, loglevel="WARNING") as worker:
            yield worker
    finally:
        app.conf.broker_transport_options = options
        task_postrun.disconnect(close_connections)
