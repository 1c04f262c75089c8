"""The embedded (SQLite) saver's tables copy like Postgres's: a recorded replay's thread on `make demo`.

The Postgres path is covered end to end in tests/traces/test_replay_copy.py; here the LangGraph
docs-style hotel trip (a subgraph inside) runs on Steward's SQLite saver, encrypted, in a file of
its own, and its thread is copied with the same SQL a recorded replay uses.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.sqlite import SqliteSaver

from agents.engine import checkpointer as checkpointer_module
from agents.engine.thread_copy import copy_thread
from tests.support.docs_agents import BOOKINGS, build_hotel_trip


def _rows(conn: sqlite3.Connection, table: str, columns: str, thread_id: str) -> list[tuple[Any, ...]]:
    return conn.execute(f"SELECT {columns} FROM {table} WHERE thread_id = ? ORDER BY {columns}", [thread_id]).fetchall()


def test_a_thread_copies_on_the_sqlite_saver_with_its_subgraph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "checkpoints.sqlite3"
    setup = sqlite3.connect(path)
    SqliteSaver(setup).setup()
    setup.close()
    monkeypatch.setattr(checkpointer_module, "vendor", lambda: "sqlite")
    monkeypatch.setattr(
        checkpointer_module, "_sqlite_connect", lambda: sqlite3.connect(path, check_same_thread=False, timeout=30)
    )
    BOOKINGS.clear()
    with checkpointer_module.checkpointer() as saver:
        graph = build_hotel_trip().compile(checkpointer=saver)
        graph.invoke({"messages": [HumanMessage(content="Savoy")]}, {"configurable": {"thread_id": "original"}})
    assert BOOKINGS == ["Savoy"]

    conn = sqlite3.connect(path)
    try:
        cursor = conn.cursor()
        copied = copy_thread(cursor, "sqlite", "original", "replay", placeholder="?")
        conn.commit()
        checkpoint_columns = "checkpoint_ns, checkpoint_id, parent_checkpoint_id, checkpoint, metadata"
        write_columns = "checkpoint_ns, checkpoint_id, task_id, idx, channel, value"
        original = _rows(conn, "checkpoints", checkpoint_columns, "original")
        assert copied == len(original) and any(row[0] for row in original), "subgraph checkpoints exist"
        assert _rows(conn, "checkpoints", checkpoint_columns, "replay") == original
        assert _rows(conn, "writes", write_columns, "replay") == _rows(conn, "writes", write_columns, "original")
        assert copy_thread(cursor, "sqlite", "no-such-thread", "other", placeholder="?") == 0
    finally:
        conn.close()

    with checkpointer_module.checkpointer() as saver:
        graph = build_hotel_trip().compile(checkpointer=saver)
        before = graph.get_state({"configurable": {"thread_id": "original"}}, subgraphs=True)
        after = graph.get_state({"configurable": {"thread_id": "replay"}}, subgraphs=True)
    assert after.values == before.values and after.next == before.next == ()
    assert after.config["configurable"]["checkpoint_id"] == before.config["configurable"]["checkpoint_id"]
    assert BOOKINGS == ["Savoy"]
