"""PGBOUNCER=true: what PgBouncer in transaction pooling needs (docs/production.md).

Django must not open server-side cursors, and no psycopg connection may prepare statements:
Django's backend already passes prepare_threshold=None; the LangGraph checkpointer's own pool
prepares everything at once (0) unless PGBOUNCER is on.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import override_settings

from agents.engine import checkpointer, runtime
from agents.engine.services import start_run
from tests.support.processes import fresh_django, fresh_env

SHOW = """
import django
django.setup()
from django.conf import settings
from django.db import connection
from agents.engine.checkpointer import prepare_threshold
db = settings.DATABASES["default"]
print(db.get("DISABLE_SERVER_SIDE_CURSORS", False), db["CONN_MAX_AGE"], prepare_threshold(),
      connection.get_connection_params()["prepare_threshold"])
"""


def _settings_with(**env: str) -> str:
    environ = fresh_env(
        without=("PGBOUNCER", "DB_CONN_MAX_AGE"), DATABASE_URL="postgres://steward@pgbouncer.internal:6432/steward", **env
    )
    result = fresh_django("-c", SHOW, env=environ, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_pgbouncer_env_turns_off_server_side_cursors_and_prepared_statements() -> None:
    assert _settings_with(PGBOUNCER="true") == "True 60 None None"
    assert _settings_with(PGBOUNCER="true", DB_CONN_MAX_AGE="0") == "True 0 None None"
    # Without it: LangGraph's eager preparation for the checkpointer; Django never prepares, and
    # its own pool needs CONN_MAX_AGE 0 (docs/production.md, "Database connections").
    assert _settings_with() == "False 0 0 None"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_checkpointer_pool_prepares_nothing_under_pgbouncer(engineer: User) -> None:
    """A run executes on the real checkpointer with the PgBouncer setting: its connections have
    prepare_threshold None and Postgres holds no prepared statement for them afterwards."""
    if connection.vendor != "postgresql":
        pytest.skip("the Postgres checkpointer")
    checkpointer.close_pool()
    try:
        with override_settings(PGBOUNCER=True):
            with checkpointer.checkpointer() as saver:
                assert saver.conn.prepare_threshold is None
            run = start_run("refund", {"order_id": "PG-1", "amount": 20, "reason": "x"}, engineer)
            assert runtime.execute(run.id) == "succeeded"
            with checkpointer._get_pool().connection() as conn:
                assert conn.execute("SELECT count(*) AS n FROM pg_prepared_statements").fetchone()["n"] == 0
    finally:
        # Later tests get a pool with the normal setting.
        checkpointer.close_pool()
