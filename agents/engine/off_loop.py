"""Database work that agent code may do from an `async def` node.

An async graph runs in an event loop (agents/engine/runtime.py), and Django refuses the ORM on a
thread whose event loop is running (SynchronousOnlyOperation). The gate and the ledger are sync
code an async node calls (approvals/gate.py): their queries go through `off_the_loop`, which runs
them in a thread of their own there (with the caller's context: LangGraph's config is in it), and
directly everywhere else.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from django.db import connections

__all__ = ["off_the_loop"]

P = ParamSpec("P")
T = TypeVar("T")


def off_the_loop(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn(*args, **kwargs)
    context = contextvars.copy_context()

    def in_thread() -> T:
        try:
            return context.run(fn, *args, **kwargs)
        finally:
            # The thread ends here: its connection must not be left open.
            connections.close_all()

    # The node waits for its query, as a sync node would: the loop has nothing else of this run to do.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="steward-db") as pool:
        return pool.submit(in_thread).result()
