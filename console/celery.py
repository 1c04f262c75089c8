"""The Celery app. Workers: `celery -A console worker`; beat: `celery -A console beat`."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import task_prerun, worker_process_init
from django.db import close_old_connections, connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

app = Celery("steward")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["agents.engine", "approvals", "traces", "console.langgraph_api"])


# Kept, never used: a forked child's copy of a parent's pool or pooled connection, collected, would
# finish its connections (libpq sends Terminate), ending the parent's sessions on the sockets they share.
_inherited: list[object] = []


@worker_process_init.connect
def _fresh_connections_after_fork(**_: object) -> None:
    # A forked child must not reuse its parent's sockets: drop them, open lazily.
    # Imported here: this module loads with the settings, before Django's models may be.
    from django.db.backends.postgresql.base import DatabaseWrapper

    from agents.engine.checkpointer import close_pool

    # Django's pools were the parent's: their threads did not survive the fork and their
    # connections are the parent's sockets. Set them aside (closing them would end the parent's
    # sessions); this process opens a pool of its own on first use.
    # The class's own dict of pools by alias (django-stubs do not declare it).
    pools: dict[str, object] = DatabaseWrapper.__dict__["_connection_pools"]
    _inherited.extend(pools.values())
    pools.clear()
    for conn in connections.all(initialized_only=True):
        if conn.settings_dict.get("OPTIONS", {}).get("pool"):
            _inherited.append(conn.connection)
            conn.connection = None  # the parent's, lent by the parent's pool: forget it
        else:
            conn.close()
    close_pool()


@task_prerun.connect
def _drop_broken_connections(**_: object) -> None:
    # What Django does before each request: close a connection that failed (Postgres restarted)
    # or outlived CONN_MAX_AGE, so the task opens a fresh one. Celery's own reuse
    # (CELERY_DB_REUSE_MAX) kept a dead connection for a hundred tasks (seen in `manage.py chaos`).
    close_old_connections()
