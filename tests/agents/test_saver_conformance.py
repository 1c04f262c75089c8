"""One conformance suite, in the spirit of LangGraph's own, over every saver Steward has: sync and
async, Postgres and SQLite. put, get, list, put_writes and delete_thread behave alike, through the
savers' hooked writes (each write calls the run's StepHook around it), with encryption on."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple, empty_checkpoint
from langgraph.checkpoint.base.id import uuid6
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.sqlite import SqliteSaver

from agents.engine.checkpointer import StewardSqliteSaver, checkpointer
from agents.engine.checkpointer_async import StewardAsyncSqliteSaver, async_checkpointer

pytestmark = pytest.mark.django_db


class CountingHook:
    """A StepHook that issues no statement and counts the writes it was called around."""

    def __init__(self) -> None:
        self.before = self.checked = self.after = 0

    def before_commit(self, cursor: Any, vendor: str, placeholder: str, checkpoint_id: str, up_to_step: int | None = None) -> None:
        self.before += 1

    def check(self, cursor: Any) -> None:
        self.checked += 1

    def after_commit(self) -> None:
        self.after += 1


class Saver:
    """One saver behind the sync API, whatever its own: an async saver runs on a loop of its own."""

    def __init__(self, opened: AbstractContextManager[Any] | AbstractAsyncContextManager[Any]) -> None:
        self.loop = asyncio.new_event_loop() if isinstance(opened, AbstractAsyncContextManager) else None
        self._opened = opened
        if isinstance(opened, AbstractAsyncContextManager):
            self.saver: BaseCheckpointSaver[Any] = self._await(opened.__aenter__())
        else:
            self.saver = opened.__enter__()

    def _await(self, awaitable: Any) -> Any:
        assert self.loop is not None
        return self.loop.run_until_complete(awaitable)

    def close(self) -> None:
        if isinstance(self._opened, AbstractAsyncContextManager):
            self._await(self._opened.__aexit__(None, None, None))
            assert self.loop is not None
            self.loop.close()
        else:
            self._opened.__exit__(None, None, None)

    def put(self, config: Any, checkpoint: Any, metadata: Any, versions: Any) -> Any:
        if self.loop:
            return self._await(self.saver.aput(config, checkpoint, metadata, versions))
        return self.saver.put(config, checkpoint, metadata, versions)

    def get(self, config: Any) -> CheckpointTuple | None:
        return self._await(self.saver.aget_tuple(config)) if self.loop else self.saver.get_tuple(config)

    def list(self, config: Any, **kwargs: Any) -> list[CheckpointTuple]:
        if self.loop:

            async def collect() -> list[CheckpointTuple]:
                return [t async for t in self.saver.alist(config, **kwargs)]

            return list(self._await(collect()))
        return list(self.saver.list(config, **kwargs))

    def put_writes(self, config: Any, writes: Any, task_id: str) -> None:
        if self.loop:
            self._await(self.saver.aput_writes(config, writes, task_id))
        else:
            self.saver.put_writes(config, writes, task_id)

    def delete_thread(self, thread_id: str) -> None:
        if self.loop:
            self._await(self.saver.adelete_thread(thread_id))
        else:
            self.saver.delete_thread(thread_id)


class _SqliteFile:
    """A SQLite file with LangGraph's checkpoint tables (the test database is Postgres)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        conn = sqlite3.connect(self.path)
        SqliteSaver(conn).setup()
        conn.close()

    def sync(self, hook: CountingHook) -> AbstractContextManager[Any]:
        from contextlib import contextmanager

        @contextmanager
        def opened() -> Iterator[Any]:
            conn = sqlite3.connect(self.path, check_same_thread=False)
            try:
                yield StewardSqliteSaver(conn, hook)
            finally:
                conn.close()

        return opened()

    def asynchronous(self, hook: CountingHook) -> AbstractAsyncContextManager[Any]:
        from contextlib import asynccontextmanager

        @asynccontextmanager
        async def opened() -> Any:
            async with aiosqlite.connect(self.path) as conn:
                yield StewardAsyncSqliteSaver(conn, hook)

        return opened()


OPENERS: dict[str, Callable[[CountingHook, Path], Any]] = {
    "sync postgres": lambda hook, tmp: checkpointer(hook),
    "async postgres": lambda hook, tmp: async_checkpointer(hook),
    "sync sqlite": lambda hook, tmp: _SqliteFile(tmp / "checkpoints.sqlite3").sync(hook),
    "async sqlite": lambda hook, tmp: _SqliteFile(tmp / "checkpoints.sqlite3").asynchronous(hook),
}


@pytest.fixture(params=list(OPENERS))
def saver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Saver, CountingHook]]:
    hook = CountingHook()
    opened = Saver(OPENERS[request.param](hook, tmp_path))
    try:
        yield opened, hook
    finally:
        opened.close()


_SEQ = iter(range(1, 1 << 14))


def _checkpoint(values: dict[str, Any], versions: dict[str, int]) -> Any:
    checkpoint = empty_checkpoint()
    # Increasing, as LangGraph's (clock_seq is its step): ids sort in the order they were made.
    checkpoint["id"] = str(uuid6(clock_seq=next(_SEQ)))
    checkpoint["channel_values"] = values
    checkpoint["channel_versions"] = {k: str(v) for k, v in versions.items()}
    return checkpoint


def _thread() -> dict[str, Any]:
    return {"configurable": {"thread_id": f"conformance-{uuid.uuid4().hex}", "checkpoint_ns": ""}}


def test_put_then_get_and_list(saver: tuple[Saver, CountingHook]) -> None:
    s, hook = saver
    assert isinstance(s.saver.serde, EncryptedSerializer)
    thread = _thread()
    first = _checkpoint({"topic": "refunds", "log": ["a"]}, {"topic": 1, "log": 1})
    first_config = s.put(thread, first, {"source": "input", "step": -1}, {"topic": "1", "log": "1"})
    second = _checkpoint({"topic": "refunds", "log": ["a", "b"], "n": 2}, {"topic": 1, "log": 2, "n": 2})
    second_config = s.put(first_config, second, {"source": "loop", "step": 0}, {"log": "2", "n": "2"})
    assert second_config["configurable"]["checkpoint_id"] == second["id"]

    latest = s.get(thread)
    assert latest is not None
    assert latest.checkpoint["id"] == second["id"]
    assert latest.checkpoint["channel_values"] == {"topic": "refunds", "log": ["a", "b"], "n": 2}
    assert latest.parent_config is not None and latest.parent_config["configurable"]["checkpoint_id"] == first["id"]
    assert latest.metadata["source"] == "loop" and latest.metadata["step"] == 0

    by_id = s.get({"configurable": {**thread["configurable"], "checkpoint_id": first["id"]}})
    assert by_id is not None and by_id.checkpoint["channel_values"] == {"topic": "refunds", "log": ["a"]}

    assert [t.checkpoint["id"] for t in s.list(thread)] == [second["id"], first["id"]]
    assert [t.checkpoint["id"] for t in s.list(thread, limit=1)] == [second["id"]]
    assert [t.checkpoint["id"] for t in s.list(thread, filter={"source": "input"})] == [first["id"]]
    assert [t.checkpoint["id"] for t in s.list(thread, before=second_config)] == [first["id"]]
    # Every write went through the hook, in its transaction.
    assert (hook.before, hook.checked, hook.after) == (2, 2, 2)


def test_put_writes_are_pending_on_their_checkpoint(saver: tuple[Saver, CountingHook]) -> None:
    s, hook = saver
    thread = _thread()
    config = s.put(thread, _checkpoint({"topic": "x"}, {"topic": 1}), {"source": "input", "step": -1}, {"topic": "1"})
    s.put_writes(config, [("log", ["task one"]), ("n", 7)], "task-1")
    s.put_writes(config, [("log", ["task two"])], "task-2")
    saved = s.get(thread)
    assert saved is not None
    assert sorted(saved.pending_writes or []) == [("task-1", "log", ["task one"]), ("task-1", "n", 7), ("task-2", "log", ["task two"])]
    assert (hook.before, hook.after) == (3, 3)


def test_delete_thread_removes_only_that_thread(saver: tuple[Saver, CountingHook]) -> None:
    s, _ = saver
    gone, kept = _thread(), _thread()
    for thread in (gone, kept):
        config = s.put(thread, _checkpoint({"topic": "x"}, {"topic": 1}), {"source": "input", "step": -1}, {"topic": "1"})
        s.put_writes(config, [("log", ["w"])], "task-1")
    s.delete_thread(gone["configurable"]["thread_id"])
    assert s.get(gone) is None and s.list(gone) == []
    assert s.get(kept) is not None and len(s.list(kept)) == 1


def test_a_refusing_hook_rolls_the_write_back(saver: tuple[Saver, CountingHook]) -> None:
    s, hook = saver
    thread = _thread()

    def refuse(cursor: Any) -> None:
        raise RuntimeError("lease lost")

    hook.check = refuse  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="lease lost"):
        s.put(thread, _checkpoint({"topic": "x"}, {"topic": 1}), {"source": "input", "step": -1}, {"topic": "1"})
    assert s.get(thread) is None
