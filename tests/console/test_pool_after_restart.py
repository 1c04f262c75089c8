"""After Postgres ends every connection (a restart, a failover), a process's pool lends a live
connection on the next request instead of walking its dead idle ones one backoff at a time, which
took past the pool's timeout with five or more (the worker's first task after a restart failed).
Checked in a fresh process on the production settings with Django's real pool."""

from __future__ import annotations

import json

import pytest

from tests.support.processes import fresh_django, server_env

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

IDLE_CONNECTIONS_ENDED = """
import json, threading, django
django.setup()
import psycopg
from django.db import connection, connections

# Six requests at once leave six idle connections in the pool.
barrier = threading.Barrier(6)
def hold():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        barrier.wait()
    connections.close_all()
threads = [threading.Thread(target=hold) for _ in range(6)]
for t in threads: t.start()
for t in threads: t.join()
pool = connection.pool
idle_before = pool.get_stats()["pool_available"]

# Postgres ends them, as a restart does.
params = connection.get_connection_params()
params.pop("cursor_factory", None); params.pop("context", None)
with psycopg.connect(**params, autocommit=True) as admin:
    ended = admin.execute(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE application_name = current_setting('application_name') AND pid <> pg_backend_pid()) t"
    ).fetchone()[0]

answer = None
error = None
try:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        answer = cursor.fetchone()[0]
except Exception as exc:
    error = repr(exc)
print(json.dumps({"idle_before": idle_before, "ended": ended, "answer": answer, "error": error}))
"""


def test_the_first_query_after_every_idle_connection_died_gets_a_live_one() -> None:
    # A pool timeout of 3 s: walking five dead connections one backoff at a time takes 0+1+2+4 s.
    env = server_env(STEWARD_DB_CONNECTIONS="8", STEWARD_DB_POOL_TIMEOUT="3", PGAPPNAME="steward-pool-test")
    result = fresh_django("-c", IDLE_CONNECTIONS_ENDED, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["idle_before"] >= 5 and figures["ended"] >= 5, figures
    assert figures["error"] is None and figures["answer"] == 1, figures
