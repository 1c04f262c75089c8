"""A chat-like graph for runs queued on one thread: each run's `text` is heard after what the
thread heard before. `hold` names a file the node waits for, so a test keeps a run running
while it queues the next one (no timing involved)."""

from __future__ import annotations

import operator
import os
import time
from typing import Annotated

from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict


class State(TypedDict, total=False):
    text: str
    hold: str
    heard: Annotated[list[str], operator.add]


def listen(state: State) -> State:
    while state.get("hold") and not os.path.exists(state["hold"]):
        time.sleep(0.02)
    return {"heard": [f"{state['text']} after {len(state.get('heard', []))}"]}


builder = StateGraph(State)
builder.add_node("listen", listen)
builder.add_edge(START, "listen")
builder.add_edge("listen", END)
graph = builder.compile()
