"""Database work that agent code may do from an `async def` node.

An async graph runs in an event loop (agents/engine/runtime.py), and Django refuses the ORM on a
thread whose event loop is running (SynchronousOnlyOperation). Sync code an async node calls (the
gate and the ledger, approvals/gate.py; the prompt library, agents/prompts; the model helper and
its circuit breaker, agents/engine/llm.py) runs its queries through `off_the_loop`, which runs
them in a thread of their own there (with the caller's context: LangGraph's config is in it), and
directly everywhere else. `in_a_thread` is the same for async callers that must not block the loop
(`agents.prompts.aget`).

It lives in the kernel, the lowest layer, so that every layer above may use it.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from django.db import connections

__all__ = ["in_a_thread", "off_the_loop"]

P = ParamSpec("P")
T = TypeVar("T")


def _closing(context: contextvars.Context, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Callable[[], T]:
    def in_thread() -> T:
        try:
            return context.run(fn, *args, **kwargs)
        finally:
            # The work is done in this thread: its connection must not be left open.
            connections.close_all()

    return in_thread


def off_the_loop(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`fn(*args, **kwargs)`, in a thread of its own when called on a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn(*args, **kwargs)
    # The node waits for its query, as a sync node would: the loop has nothing else of this run to do.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="steward-db") as pool:
        return pool.submit(_closing(contextvars.copy_context(), fn, *args, **kwargs)).result()


async def in_a_thread(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Await `fn(*args, **kwargs)` run in a worker thread (with the caller's context), the loop free meanwhile."""
    call = _closing(contextvars.copy_context(), fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(None, call)
