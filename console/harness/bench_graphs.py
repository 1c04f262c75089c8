"""What the benchmark agents share (`manage.py bench`, `manage.py bench_live`): the scripted
reply and a line of ten nodes. Registers no agent: importing it changes no registry."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langgraph.graph import END, START, StateGraph

__all__ = ["NODES", "linear_graph", "step_script"]

NODES = 10


def step_script(messages: Sequence[BaseMessage]) -> AIMessage:
    # The reply depends only on the conversation (no call counter), like every Steward script.
    step = sum(1 for m in messages if isinstance(m, AIMessage)) + 1
    return AIMessage(content=f"step {step} done")


def linear_graph(state: type, node_for: Callable[[str], Any], nodes: int = NODES) -> StateGraph:
    """n01 → n02 → … → n<nodes>, each node made by `node_for(name)`."""
    graph: StateGraph[Any] = StateGraph(state)
    names = [f"n{i:02d}" for i in range(1, nodes + 1)]
    for name in names:
        graph.add_node(name, node_for(name))
    graph.add_edge(START, names[0])
    for before, after in zip(names, names[1:], strict=False):
        graph.add_edge(before, after)
    graph.add_edge(names[-1], END)
    return graph
