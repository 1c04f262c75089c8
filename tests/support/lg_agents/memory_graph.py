"""Long-term memory the LangGraph docs way: a node gets the store as `store: BaseStore`, another
reaches it with `get_store()`. The host compiles the graph and gives it the store."""

from __future__ import annotations

from langgraph.config import get_store
from langgraph.graph import END, START, StateGraph
from langgraph.store.base import BaseStore
from typing_extensions import TypedDict


class State(TypedDict, total=False):
    user: str
    remembered: dict
    visits: int


def recall(state: State, *, store: BaseStore) -> State:
    namespace = ("profiles", state["user"])
    item = store.get(namespace, "preferences")
    return {"remembered": item.value if item is not None else {}}


def note_visit(state: State) -> State:
    store = get_store()
    namespace = ("visits", state["user"])
    last = store.get(namespace, "count")
    visits = (last.value["n"] if last is not None else 0) + 1
    store.put(namespace, "count", {"n": visits})
    return {"visits": visits}


builder = StateGraph(State)
builder.add_node("recall", recall)
builder.add_node("note_visit", note_visit)
builder.add_edge(START, "recall")
builder.add_edge("recall", "note_visit")
builder.add_edge("note_visit", END)
graph = builder.compile()
