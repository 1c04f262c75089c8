"""A graph of `async def` nodes: the host must run it with LangGraph's async API."""

from __future__ import annotations

import asyncio

from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict


class State(TypedDict, total=False):
    n: int
    doubled: int
    total: int


async def double(state: State) -> State:
    await asyncio.sleep(0)
    return {"doubled": state["n"] * 2}


async def add_one(state: State) -> State:
    await asyncio.sleep(0)
    return {"total": state["doubled"] + 1}


builder = StateGraph(State)
builder.add_node("double", double)
builder.add_node("add_one", add_one)
builder.add_edge(START, "double")
builder.add_edge("double", "add_one")
builder.add_edge("add_one", END)
graph = builder.compile()
