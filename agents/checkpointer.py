"""LangGraph checkpointers that write a step's spans in the step's own transaction.

Before LangGraph saves a checkpoint (or a task's pending writes), the saver calls the run's
`StepHook` on the same connection, inside the same transaction: the hook renews the run's
lease (and refuses the write if the lease is gone) and inserts the step's spans. So the trace
is exactly as durable as the state, with no extra commit per event.

Postgres: a psycopg_pool pool (autocommit, opened lazily in each process, so after a fork).
SQLite (embedded): the same file as Django, WAL, `check_same_thread=False`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from django.conf import settings
from django.db import connections
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, ChannelVersions, Checkpoint, CheckpointMetadata
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

__all__ = ["StepHook", "checkpointer", "close_pool", "postgres_dsn", "prepare_threshold", "setup_checkpointer", "vendor"]


class StepHook(Protocol):
    """What the saver calls around each write. `before_commit` issues statements on `cursor`
    (in Postgres pipeline mode: results are not read yet); `check` runs once they have been
    executed, before COMMIT, and raises to roll the whole step back."""

    def before_commit(self, cursor: Any, vendor: str, placeholder: str, checkpoint_id: str) -> None: ...

    def check(self, cursor: Any) -> None: ...

    def after_commit(self) -> None: ...


class _NoHook:
    def before_commit(self, cursor: Any, vendor: str, placeholder: str, checkpoint_id: str) -> None:
        return None

    def check(self, cursor: Any) -> None:
        return None

    def after_commit(self) -> None:
        return None


class StewardPostgresSaver(PostgresSaver):
    def __init__(self, conn: Any, hook: StepHook) -> None:
        super().__init__(conn)
        self.hook = hook
        # put and put_writes come from LangGraph's executor threads: one transaction at a time.
        self._tx_lock = threading.Lock()

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        with self._tx_lock:
            # One pipeline for the whole step: the hook's statements and the checkpoint's go
            # out together, and the lease is checked after a single sync, before COMMIT.
            with self.conn.pipeline() as pipeline, self.conn.transaction(), self.conn.cursor() as cur:
                self.hook.before_commit(cur, "postgresql", "%s", checkpoint["id"])
                saved = super().put(config, checkpoint, metadata, new_versions)
                pipeline.sync()
                self.hook.check(cur)
            self.hook.after_commit()
            return saved

    def put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        with self._tx_lock:
            with self.conn.pipeline() as pipeline, self.conn.transaction(), self.conn.cursor() as cur:
                self.hook.before_commit(cur, "postgresql", "%s", config["configurable"].get("checkpoint_id", ""))
                super().put_writes(config, writes, task_id, task_path)
                pipeline.sync()
                self.hook.check(cur)
            self.hook.after_commit()


class StewardSqliteSaver(SqliteSaver):
    def __init__(self, conn: sqlite3.Connection, hook: StepHook) -> None:
        super().__init__(conn)
        self.hook = hook
        self._tx_lock = threading.Lock()
        # The tables come from a migration; SqliteSaver.setup() would COMMIT mid-transaction.
        self.is_setup = True

    def _before(self, checkpoint_id: str) -> None:
        with self.lock:
            cur = self.conn.cursor()
            try:
                # The hook's first write opens the transaction that super() commits.
                self.hook.before_commit(cur, "sqlite", "?", checkpoint_id)
                self.hook.check(cur)
            except BaseException:
                self.conn.rollback()
                raise
            finally:
                cur.close()

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        with self._tx_lock:
            self._before(checkpoint["id"])
            saved = super().put(config, checkpoint, metadata, new_versions)
            self.hook.after_commit()
            return saved

    def put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        with self._tx_lock:
            self._before(config["configurable"].get("checkpoint_id", ""))
            super().put_writes(config, writes, task_id, task_path)
            self.hook.after_commit()


def vendor() -> str:
    return connections["default"].vendor


def dsn_of(settings_dict: dict[str, Any]) -> str:
    s = settings_dict
    return make_conninfo(
        dbname=s["NAME"],
        user=s.get("USER") or None,
        password=s.get("PASSWORD") or None,
        host=s.get("HOST") or None,
        port=str(s["PORT"]) if s.get("PORT") else None,
    )


def postgres_dsn() -> str:
    return dsn_of(connections["default"].settings_dict)


def prepare_threshold() -> int | None:
    """LangGraph's choice, prepare every statement at once (0), unless PgBouncer in transaction
    pooling sits in between: a statement prepared on one server connection is unknown on the next,
    so there psycopg must never prepare (None)."""
    return None if settings.PGBOUNCER else 0


_pool: ConnectionPool | None = None
_pool_key: tuple[int, str] | None = None
_pool_lock = threading.Lock()


def _get_pool() -> ConnectionPool:
    """The process's pool. Keyed by pid: a forked worker never uses its parent's sockets."""
    global _pool, _pool_key
    key = (os.getpid(), postgres_dsn())
    with _pool_lock:
        if _pool is None or _pool_key != key:
            if _pool is not None and _pool_key and _pool_key[0] == os.getpid():
                _pool.close()
            _pool = ConnectionPool(
                key[1],
                min_size=1,
                max_size=int(os.environ.get("STEWARD_CHECKPOINT_POOL_SIZE", "8")),
                kwargs={"autocommit": True, "prepare_threshold": prepare_threshold(), "row_factory": dict_row},
                open=True,
                name="steward-checkpoints",
            )
            _pool_key = key
        return _pool


def close_pool() -> None:
    global _pool, _pool_key
    with _pool_lock:
        if _pool is not None and _pool_key and _pool_key[0] == os.getpid():
            _pool.close()
        _pool, _pool_key = None, None


def _sqlite_connect() -> sqlite3.Connection:
    conn = sqlite3.connect(connections["default"].settings_dict["NAME"], check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


@contextmanager
def checkpointer(hook: StepHook | None = None) -> Iterator[BaseCheckpointSaver[Any]]:
    """A saver for one run execution, on a connection of its own for the duration."""
    hook = hook or _NoHook()
    if vendor() == "postgresql":
        with _get_pool().connection() as conn:
            yield StewardPostgresSaver(conn, hook)
    else:
        conn = _sqlite_connect()
        try:
            yield StewardSqliteSaver(conn, hook)
        finally:
            conn.close()


def setup_checkpointer(settings_dict: dict[str, Any], db_vendor: str) -> None:
    """Create LangGraph's checkpoint tables (from a migration)."""
    if db_vendor == "postgresql":
        import psycopg

        dsn = dsn_of(settings_dict)
        # setup() runs CREATE INDEX CONCURRENTLY: it needs autocommit.
        with psycopg.connect(dsn, autocommit=True, prepare_threshold=prepare_threshold(), row_factory=dict_row) as conn:
            PostgresSaver(conn).setup()
    else:
        conn = sqlite3.connect(settings_dict["NAME"], check_same_thread=False, timeout=30)
        try:
            SqliteSaver(conn).setup()
        finally:
            conn.close()
