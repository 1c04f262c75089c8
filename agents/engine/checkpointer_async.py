"""The async savers: what an async graph (`async def` nodes, run with `ainvoke`) checkpoints with.

They are LangGraph's AsyncPostgresSaver and AsyncSqliteSaver with the same hooked writes as the
sync savers (agents/engine/checkpointer.py): before a checkpoint or a task's pending writes are
saved, the run's StepHook renews the lease and inserts the step's spans on the same connection,
in the same transaction, and `check` refuses the write when the lease is gone. The same
serializer (encryption included) and, in Postgres, no plain value inline when encrypting.

The StepHook is sync code issuing statements on a cursor: here it gets a `StatementQueue`, which
records them; the saver then runs them on its async connection and answers `check` from the
result of the lease statement (as the sync Postgres saver does in pipeline mode).

Each execution opens its own connection (`async_checkpointer`): `asyncio.run` gives every async
run a loop of its own, and a pool is bound to one loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiosqlite
import psycopg
from django.db import connections
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, ChannelVersions, Checkpoint, CheckpointMetadata
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from psycopg.rows import DictRow, dict_row

from agents.engine.checkpointer import (
    StepHook,
    _encrypting,
    _NoHook,
    checkpoint_rows,
    checkpoint_serde,
    postgres_dsn,
    prepare_threshold,
    vendor,
)

__all__ = ["StatementQueue", "StewardAsyncPostgresSaver", "StewardAsyncSqliteSaver", "async_checkpointer"]


class StatementQueue:
    """A cursor for the sync StepHook inside an async saver: it records what the hook executes
    (`lease` for this cursor's statements, `other` for those of `connection.cursor()`), and later
    answers `rowcount` and `fetchone()` with the lease statement's result."""

    def __init__(self, shared: list[tuple[bool, str, str, Any]] | None = None, main: bool = True) -> None:
        self.statements: list[tuple[bool, str, str, Any]] = shared if shared is not None else []
        self._main = main
        self.rowcount = -1
        self.row: Any = None
        self.connection = self

    def cursor(self) -> StatementQueue:
        return StatementQueue(self.statements, main=False)

    def execute(self, sql: str, params: Any = ()) -> None:
        self.statements.append((self._main, "execute", sql, params))

    def executemany(self, sql: str, params: Any) -> None:
        self.statements.append((self._main, "executemany", sql, list(params)))

    def fetchone(self) -> Any:
        return self.row

    def close(self) -> None:
        return None


class StewardAsyncPostgresSaver(AsyncPostgresSaver):
    conn: psycopg.AsyncConnection[DictRow]

    def __init__(self, conn: psycopg.AsyncConnection[DictRow], hook: StepHook, serde: SerializerProtocol | None = None) -> None:
        serde = serde or checkpoint_serde()
        super().__init__(conn, serde=serde)
        self.hook = hook
        self.encrypting = _encrypting(serde)
        self._tx_lock = asyncio.Lock()

    async def aput(
        self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata, new_versions: ChannelVersions
    ) -> RunnableConfig:
        async with self._step_transaction(checkpoint["id"]):
            if not self.encrypting:
                return await super().aput(config, checkpoint, metadata, new_versions)
            blobs, row, next_config = await asyncio.to_thread(
                checkpoint_rows, self, config, checkpoint, metadata, new_versions
            )
            async with self._cursor(pipeline=True) as cur:
                if blobs:
                    await cur.executemany(self.UPSERT_CHECKPOINT_BLOBS_SQL, blobs)
                await cur.execute(self.UPSERT_CHECKPOINTS_SQL, row)
            return next_config

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        async with self._step_transaction(config["configurable"].get("checkpoint_id", "")):
            await super().aput_writes(config, writes, task_id, task_path)

    @asynccontextmanager
    async def _step_transaction(self, checkpoint_id: str) -> AsyncIterator[None]:
        async with self._tx_lock:
            queue = StatementQueue()
            self.hook.before_commit(queue, "postgresql", "%s", checkpoint_id)
            async with self.conn.pipeline() as pipeline, self.conn.transaction():
                async with self.conn.cursor() as lease, self.conn.cursor() as other:
                    for main, method, sql, params in queue.statements:
                        await getattr(lease if main else other, method)(sql, params)
                    yield
                    await pipeline.sync()
                    queue.rowcount = lease.rowcount
                    queue.row = await lease.fetchone() if lease.description is not None else None
                    self.hook.check(queue)
            self.hook.after_commit()


class StewardAsyncSqliteSaver(AsyncSqliteSaver):
    def __init__(self, conn: aiosqlite.Connection, hook: StepHook, serde: SerializerProtocol | None = None) -> None:
        super().__init__(conn, serde=serde or checkpoint_serde())
        self.hook = hook
        self._tx_lock = asyncio.Lock()
        # The tables come from a migration; setup() would COMMIT mid-transaction.
        self.is_setup = True

    async def aput(
        self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata, new_versions: ChannelVersions
    ) -> RunnableConfig:
        async with self._step_transaction(checkpoint["id"]):
            return await super().aput(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        async with self._step_transaction(config["configurable"].get("checkpoint_id", "")):
            await super().aput_writes(config, writes, task_id, task_path)

    @asynccontextmanager
    async def _step_transaction(self, checkpoint_id: str) -> AsyncIterator[None]:
        async with self._tx_lock:
            await self._before(checkpoint_id)
            yield
            self.hook.after_commit()

    async def _before(self, checkpoint_id: str) -> None:
        queue = StatementQueue()
        self.hook.before_commit(queue, "sqlite", "?", checkpoint_id)
        async with self.lock:
            try:
                # The hook's first write opens the transaction that super() commits.
                for main, method, sql, params in queue.statements:
                    cursor = await getattr(self.conn, method)(sql, params)
                    if main:
                        queue.rowcount = cursor.rowcount
                        queue.row = await cursor.fetchone() if cursor.description else None
                    await cursor.close()
                self.hook.check(queue)
            except BaseException:
                await self.conn.rollback()
                raise


@asynccontextmanager
async def async_checkpointer(hook: StepHook | None = None) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """An async saver for one execution of an async graph, on a connection of its own."""
    hook = hook or _NoHook()
    if vendor() == "postgresql":
        conn = await psycopg.AsyncConnection.connect(
            postgres_dsn(), autocommit=True, prepare_threshold=prepare_threshold(), row_factory=dict_row
        )
        async with conn:
            yield StewardAsyncPostgresSaver(conn, hook)
    else:
        async with aiosqlite.connect(connections["default"].settings_dict["NAME"], timeout=30) as sqlite_conn:
            await sqlite_conn.execute("PRAGMA journal_mode=WAL")
            await sqlite_conn.execute("PRAGMA busy_timeout=30000")
            yield StewardAsyncSqliteSaver(sqlite_conn, hook)
