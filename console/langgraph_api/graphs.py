"""The agents' graphs as the API reads them: compiled once per process, bound to Steward's
checkpointer for a thread's state (read, update, history). Runs execute in the worker."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.pregel import Pregel

from agents.engine.checkpointer import checkpointer
from agents.engine.registry import AgentSpec, compile_agent, get_agent
from console.kernel.errors import NotFound

__all__ = ["compiled", "spec_of", "thread_graph"]

_compiled: dict[str, tuple[Any, Pregel]] = {}
_lock = threading.Lock()


def spec_of(graph_id: str) -> AgentSpec:
    spec = get_agent(graph_id)
    if spec is None:
        raise NotFound(f"graph {graph_id!r} is not registered")
    return spec


def compiled(spec: AgentSpec) -> Pregel:
    """The agent's graph as its author compiled it (without a checkpointer)."""
    with _lock:
        cached = _compiled.get(spec.key)
        if cached is None or cached[0] is not spec.build:
            cached = (spec.build, compile_agent(spec))
            _compiled[spec.key] = cached
    return cached[1]


@contextmanager
def thread_graph(graph_id: str) -> Iterator[Pregel]:
    """The graph bound to Steward's checkpointer, for `get_state`, `update_state` and history."""
    graph = compiled(spec_of(graph_id))
    with checkpointer() as saver:
        yield graph.copy(update={"checkpointer": saver})


def thread_config(thread_id: str, checkpoint_id: str | None = None, checkpoint_ns: str = "") -> RunnableConfig:
    configurable: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns}
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    return RunnableConfig(configurable=configurable)
