"""A factory that builds its graph per run from the run's configuration."""

from __future__ import annotations

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from typing_extensions import TypedDict


class State(TypedDict, total=False):
    text: str
    shout: str


def make_graph(config: RunnableConfig) -> CompiledStateGraph:
    suffix = "!" * 3

    def shout(state: State) -> State:
        return {"shout": state["text"].upper() + suffix}

    builder = StateGraph(State)
    builder.add_node("shout", shout)
    builder.add_edge(START, "shout")
    builder.add_edge("shout", END)
    return builder.compile()
