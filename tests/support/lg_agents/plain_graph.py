"""An uncompiled StateGraph: the host compiles it."""

from __future__ import annotations

import os

from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict


class State(TypedDict, total=False):
    topic: str
    greeting: str
    words: int


def greet(state: State) -> State:
    return {"greeting": f"{os.environ.get('LG_AGENTS_GREETING', 'hi')}: {state['topic']}"}


def count(state: State) -> State:
    return {"words": len(state["greeting"].split())}


builder = StateGraph(State)
builder.add_node("greet", greet)
builder.add_node("count", count)
builder.add_edge(START, "greet")
builder.add_edge("greet", "count")
builder.add_edge("count", END)
