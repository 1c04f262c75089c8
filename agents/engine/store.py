"""The store LangGraph's graphs get as `store: BaseStore` (and `get_store()`), the same one the
LangGraph API's `/store` endpoints read and write (console/langgraph_api/store.py).

LangGraph's own stores, in the same database as everything else: `PostgresStore` on the
checkpointer's connection pool (one connection per operation, autocommit), `SqliteStore` on the
embedded mode's file. Their tables are created by a migration (console/migrations/0005_langgraph_store_tables.py).
No embeddings are configured: search filters by namespace prefix and value fields, not by meaning.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Iterable
from typing import Any

import psycopg
from django.db import connections
from langgraph.store.base import BaseStore, Op, Result
from langgraph.store.postgres import PostgresStore
from langgraph.store.sqlite import SqliteStore
from psycopg.rows import dict_row

from agents.engine.checkpointer import connection_pool, dsn_of, prepare_threshold, vendor

__all__ = ["StewardStore", "setup_store", "steward_store", "with_store"]


class _SqliteStore(SqliteStore):
    """LangGraph's SqliteStore, usable by async graphs too (its operations are short and take
    its own lock, so a thread of the default executor runs them)."""

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        return await asyncio.get_running_loop().run_in_executor(None, self.batch, list(ops))


_stores: dict[tuple[int, str], BaseStore] = {}
_lock = threading.Lock()


def steward_store() -> BaseStore:
    """The process's store (per pid and database, as the checkpointer's pool)."""
    settings_dict = connections["default"].settings_dict
    key = (os.getpid(), f"{vendor()}:{settings_dict['NAME']}")
    with _lock:
        store = _stores.get(key)
        if store is None:
            if vendor() == "postgresql":
                store = PostgresStore(connection_pool())
            else:
                conn = sqlite3.connect(settings_dict["NAME"], check_same_thread=False, timeout=30, isolation_level=None)
                conn.execute("PRAGMA busy_timeout=30000")
                store = _SqliteStore(conn)
                store.is_setup = True  # the migration created the tables
            _stores[key] = store
        return store


class StewardStore(BaseStore):
    """What a graph is compiled with: the process's store, looked up at each operation, so
    compiling a graph (to draw it, read its schemas) opens no connection."""

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        return steward_store().batch(ops)

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        return await steward_store().abatch(ops)


_STEWARD_STORE = StewardStore()


def with_store(graph: Any) -> Any:
    """`graph` with Steward's store attached, unless its author compiled in a store of their own
    (`builder.compile(store=...)`), which stays."""
    if getattr(graph, "store", None) is not None:
        return graph
    return graph.copy(update={"store": _STEWARD_STORE})


def setup_store(settings_dict: dict[str, Any], db_vendor: str) -> None:
    """Create LangGraph's store tables (from a migration)."""
    if db_vendor == "postgresql":
        with psycopg.connect(
            dsn_of(settings_dict), autocommit=True, prepare_threshold=prepare_threshold(), row_factory=dict_row
        ) as conn:
            PostgresStore(conn).setup()
    else:
        sqlite_conn = sqlite3.connect(settings_dict["NAME"], check_same_thread=False, timeout=30, isolation_level=None)
        try:
            SqliteStore(sqlite_conn).setup()
        finally:
            sqlite_conn.close()
