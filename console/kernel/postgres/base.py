"""Django's PostgreSQL backend, whose connection pool drops every dead idle connection at once.

psycopg_pool tests a connection before lending it and, when it is dead, takes the next idle one
after a backoff that doubles (0, 1, 2, 4, 8 s). After a Postgres restart every idle connection is
dead, so a process holding five or more waited past STEWARD_DB_POOL_TIMEOUT and failed its next
task or request (found by `manage.py chaos --scenario burst`). Here the first failed check tests
all idle connections (`ConnectionPool.check()`), replacing the dead ones, and the next attempt
gets a live one.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base
from psycopg import Connection
from psycopg_pool import ConnectionPool

__all__ = ["DatabaseWrapper"]


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self) -> ConnectionPool | None:
        pool: ConnectionPool | None = super().pool  # type: ignore[misc]  # django-stubs lack it
        if pool is not None and not getattr(pool, "_steward_drains", False):
            _drain_dead_connections_on_failed_check(pool)
        return pool


def _drain_dead_connections_on_failed_check(pool: ConnectionPool) -> None:
    """Wrap the check Django gave the pool (CONN_HEALTH_CHECKS) so one failure checks them all."""
    django_check = pool._check  # psycopg_pool keeps the `check` callback here
    if django_check is None:
        return

    def check(conn: Connection[Any]) -> None:
        try:
            django_check(conn)
        except Exception:
            pool.check()
            raise

    pool._check = check
    pool._steward_drains = True  # type: ignore[attr-defined]
