"""Checking a run's limits while it runs: before each node starts, and, for time limits, from
outside the graph while a node runs.

Steps, cost and the run's timeout are checked when a node is about to start: `LimitGuard` is a
LangChain callback, and raising in a node's `on_chain_start` stops that node before its first
line. LangGraph records the error on that task, so the checkpoint still has the node to do and
`invoke(None)` later starts it afresh (how a paused run continues). It costs a few comparisons
per node and is only attached to runs that have limits.

A node that runs too long cannot be stopped from inside: LangGraph's own `step_timeout` raises
only once the node has returned (its executor waits for the node's thread on the way out;
checked in langgraph 1.2: a 3 s node under a 0.5 s step_timeout raises after 3 s, with the node's
writes kept). So a run with a time limit invokes its graph in a thread of its own and
`run_watched` waits for it only until the first deadline: the run's remaining time, or a running
node's start plus the node timeout. Python cannot kill a thread: the graph's thread is left to
finish on its own, starts no further node (the guard refuses), and whatever it writes later is
refused because the run's lease is no longer its own. Give model and tool clients their own
timeouts too: a node that never returns keeps its thread and its checkpoint connection.

The time counted is time a worker spends on the run: it is summed over executions in
`Run.active_seconds`, so time queued or waiting for a person never counts.
"""

from __future__ import annotations

import contextvars
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.db import connections
from langchain_core.callbacks import BaseCallbackHandler

from agents.engine.limits import Breach, LimitExceeded, Limits
from traces.recording.recorder import started_node

__all__ = ["LimitGuard", "run_watched"]


class LimitGuard(BaseCallbackHandler):
    """Refuses to start a node once the run is over a limit; tracks running nodes for the watchdog.

    Put it before the recorder in the callbacks: a refused node then never becomes a span.
    """

    raise_error = True
    # In an async graph (ainvoke) LangChain runs inline handlers first, one by one, and the others
    # together in threads: inline, the guard still refuses a node before the recorder sees it.
    run_inline = True
    # Chain events only: a model or tool event never starts a node.
    ignore_llm = True
    ignore_chat_model = True
    ignore_retriever = True
    ignore_agent = True
    ignore_retry = True
    ignore_custom_event = True

    def __init__(
        self,
        limits: Limits,
        spent: Callable[[], float],
        *,
        steps_before: int,
        cost_before: float,
        active_before: float,
    ) -> None:
        """
        Args:
            spent: this execution's cost so far (the recorder's running total).
            steps_before, cost_before, active_before: the run's totals before this execution.
        """
        self.limits = limits
        self._spent = spent
        self._steps_before = steps_before
        self._cost_before = cost_before
        self._active_before = active_before
        self._t0 = time.monotonic()
        self._started = 0
        self._running: dict[uuid.UUID, tuple[str, float]] = {}
        # Guards the counters; the watchdog waits on it for a node to start or end.
        self.changed = threading.Condition()
        self.finished = False
        # Set by the watchdog when it stops the run: the abandoned thread starts nothing more.
        self.stopped: Breach | None = None

    def active_seconds(self, now: float) -> float:
        return self._active_before + (now - self._t0)

    def _breach_before(self, node: str, now: float) -> Breach | None:
        limits = self.limits
        if limits.max_steps is not None and self._steps_before + self._started >= limits.max_steps:
            return Breach("max_steps", self._steps_before + self._started, limits.max_steps, node)
        if limits.max_cost_usd is not None:
            cost = self._cost_before + self._spent()
            if cost > limits.max_cost_usd:
                return Breach("max_cost_usd", round(cost, 8), limits.max_cost_usd, node)
        if limits.timeout_seconds is not None:
            active = self.active_seconds(now)
            if active >= limits.timeout_seconds:
                return Breach("timeout_seconds", round(active, 3), limits.timeout_seconds, node)
        return None

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: uuid.UUID,
        parent_run_id: uuid.UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        node = started_node(serialized, metadata, kwargs)
        if node is None:
            return
        with self.changed:
            now = time.monotonic()
            breach = self.stopped or self._breach_before(node, now)
            if breach is not None:
                raise LimitExceeded(breach)
            self._started += 1
            self._running[run_id] = (node, now)
            self.changed.notify_all()

    def _ended(self, run_id: uuid.UUID) -> None:
        if run_id in self._running:
            with self.changed:
                self._running.pop(run_id, None)
                self.changed.notify_all()

    def on_chain_end(self, outputs: Any, *, run_id: uuid.UUID, **kwargs: Any) -> None:
        self._ended(run_id)

    def on_chain_error(self, error: BaseException, *, run_id: uuid.UUID, **kwargs: Any) -> None:
        self._ended(run_id)

    # --- the watchdog's side (call with `changed` held) -------------------------------------

    def overdue(self, now: float) -> Breach | None:
        limits = self.limits
        if limits.timeout_seconds is not None:
            active = self.active_seconds(now)
            if active >= limits.timeout_seconds:
                running = next(iter(self._running.values()), ("", now))[0]
                return Breach("timeout_seconds", round(active, 3), limits.timeout_seconds, running)
        if limits.node_timeout_seconds is not None:
            for node, started in self._running.values():
                if now - started >= limits.node_timeout_seconds:
                    return Breach("node_timeout_seconds", round(now - started, 3), limits.node_timeout_seconds, node)
        return None

    def seconds_to_deadline(self, now: float) -> float | None:
        deadlines = []
        if self.limits.timeout_seconds is not None:
            deadlines.append(self._t0 + self.limits.timeout_seconds - self._active_before)
        if self.limits.node_timeout_seconds is not None:
            deadlines += [started + self.limits.node_timeout_seconds for _, started in self._running.values()]
        return max(0.0, min(deadlines) - now) if deadlines else None


def run_watched(work: Callable[[], None], guard: LimitGuard) -> None:
    """Run `work` (the graph's invoke) in a thread and wait for it within the run's time limits.

    Raises:
        LimitExceeded: a deadline passed first (the thread is abandoned, see the module's notes);
            otherwise whatever `work` raised.
    """
    outcome: dict[str, BaseException] = {}

    def target() -> None:
        try:
            work()
        except BaseException as exc:  # handed to the waiting thread, which raises it
            outcome["error"] = exc
        finally:
            # This thread's own Django connections (nodes may use the ORM); never reused.
            connections.close_all()
            with guard.changed:
                guard.finished = True
                guard.changed.notify_all()

    # The thread keeps the worker's context: log lines still name the run and its trace.
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(target,), name="steward-graph", daemon=True)
    thread.start()
    with guard.changed:
        while not guard.finished:
            now = time.monotonic()
            breach = guard.overdue(now)
            if breach is not None:
                guard.stopped = breach
                raise LimitExceeded(breach)
            guard.changed.wait(guard.seconds_to_deadline(now))
    if "error" in outcome:
        raise outcome["error"]
