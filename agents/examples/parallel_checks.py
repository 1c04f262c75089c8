"""Parallel questions with `Send`: one branch per parcel, each asking a person with its own `interrupt()` at the same time; the run goes on once every one is answered.

Try it with `{"parcels": ["P-1", "P-2"]}`; answer each question `"ship"` or `"hold"`.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send, interrupt


class Shipment(TypedDict, total=False):
    parcels: list[str]
    decisions: Annotated[list[str], operator.add]
    summary: str


class Parcel(TypedDict):
    """What each branch gets: one parcel."""

    parcel: str


def fan_out(state: Shipment) -> list[Send]:
    return [Send("check_parcel", {"parcel": parcel}) for parcel in state["parcels"]]


def check_parcel(state: Parcel) -> dict[str, Any]:
    answer = interrupt(f"Ship parcel {state['parcel']} now?", response_schema={"type": "string", "enum": ["ship", "hold"]})
    return {"decisions": [f"{state['parcel']}: {answer}"]}


def summarize(state: Shipment) -> dict[str, Any]:
    return {"summary": ", ".join(sorted(state["decisions"]))}


builder = StateGraph(Shipment)
builder.add_node("check_parcel", check_parcel, input_schema=Parcel)
builder.add_node("summarize", summarize)
builder.add_conditional_edges(START, fan_out, ["check_parcel"])
builder.add_edge("check_parcel", "summarize")
builder.add_edge("summarize", END)
graph = builder.compile()
