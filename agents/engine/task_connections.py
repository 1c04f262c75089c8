"""Giving back the database connections of LangGraph's task threads.

A step of several tasks (a `Send` fan-out, parallel branches) runs each task on a thread of
LangGraph's executor. A task that uses the ORM (`run_once`, a model's save) takes a connection
from the process's pool for its thread; the thread ends with the invoke and its connection was
never given back, so a worker running a few fan-outs exhausted its pool (seen in `manage.py chaos`:
"couldn't get a connection after 10 s", then every run on that worker failed). This callback
gives the thread's connections back when a task of the graph ends on a thread other than the
one that invoked the graph (that one's connection is Django's as usual).
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from django.db import connections
from langchain_core.callbacks import BaseCallbackHandler

__all__ = ["TaskConnections"]


class TaskConnections(BaseCallbackHandler):
    # In the task's own thread, never in a callback executor thread.
    run_inline = True

    def __init__(self) -> None:
        self._graph_run: uuid.UUID | None = None
        self._invoking_thread: int | None = None

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: uuid.UUID, parent_run_id: uuid.UUID | None = None, **kwargs: Any) -> None:
        if parent_run_id is None and self._graph_run is None:
            self._graph_run, self._invoking_thread = run_id, threading.get_ident()

    def on_chain_end(self, outputs: Any, *, run_id: uuid.UUID, parent_run_id: uuid.UUID | None = None, **kwargs: Any) -> None:
        self._task_ended(parent_run_id)

    def on_chain_error(self, error: BaseException, *, run_id: uuid.UUID, parent_run_id: uuid.UUID | None = None, **kwargs: Any) -> None:
        self._task_ended(parent_run_id)

    def _task_ended(self, parent_run_id: uuid.UUID | None) -> None:
        if parent_run_id is None or parent_run_id != self._graph_run or threading.get_ident() == self._invoking_thread:
            return
        for connection in connections.all(initialized_only=True):
            if not connection.in_atomic_block:
                connection.close()
