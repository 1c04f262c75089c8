"""Graphs compiled with static breakpoints, the way LangGraph's docs write them (no Steward
import): `compile(interrupt_before=[...])` / `compile(interrupt_after=[...])`, one with the docs'
InMemorySaver. Registered for tests in tests/support/graphs.py.

`SHIPPED` holds the orders the `ship` node really shipped (the worker runs in the test's process).
"""

from __future__ import annotations

from typing import TypedDict

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

SHIPPED: list[str] = []


class ShipState(TypedDict):
    order: str
    label: str
    shipped: bool


def draft(state: ShipState) -> dict[str, str]:
    return {"label": f"parcel for {state['order']}"}


def ship(state: ShipState) -> dict[str, bool]:
    SHIPPED.append(state["order"])
    return {"shipped": True}


def _builder() -> StateGraph:
    builder = StateGraph(ShipState)
    builder.add_node("draft", draft)
    builder.add_node("ship", ship)
    builder.add_edge(START, "draft")
    builder.add_edge("draft", "ship")
    builder.add_edge("ship", END)
    return builder


# "Set a breakpoint before the node with a side effect", as in LangGraph's breakpoints how-to.
before_ship = _builder().compile(interrupt_before=["ship"], checkpointer=InMemorySaver())
# Look at what `draft` wrote before anything else runs.
after_draft = _builder().compile(interrupt_after=["draft"])
# A breakpoint before every step: each one is its own stop.
before_each = _builder().compile(interrupt_before=["draft", "ship"])
# No breakpoint compiled in: a run may be given some when it starts.
no_breakpoints = _builder().compile()
