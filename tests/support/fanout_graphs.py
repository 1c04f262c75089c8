"""A `Send` fan-out written as LangGraph's map-reduce how-to writes it, for the kill -9 test
(tests/agents/test_crash_fanout.py). Registered only in the worker processes that test starts.

Each `part` task appends its item to the file named by FANOUT_LOG when it runs, so the test
counts executions; the task for `pause_item` then writes FANOUT_PAUSED and sleeps, to be killed.
"""

from __future__ import annotations

import operator
import os
import time
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send
from pydantic import BaseModel

from agents.engine.registry import register_agent


class FanInput(BaseModel):
    items: list[str]
    pause_item: str = ""
    pause_seconds: float = 0.0


class FanState(TypedDict):
    items: list[str]
    pause_item: str
    pause_seconds: float
    done: Annotated[list[str], operator.add]


class PartState(TypedDict):
    item: str
    pause_item: str
    pause_seconds: float


def fan_out(state: FanState) -> list[Send]:
    return [
        Send("part", {"item": item, "pause_item": state["pause_item"], "pause_seconds": state["pause_seconds"]})
        for item in state["items"]
    ]


def part(state: PartState) -> dict[str, Any]:
    with open(os.environ["FANOUT_LOG"], "a") as log:
        log.write(state["item"] + "\n")
    paused = os.environ["FANOUT_PAUSED"]
    if state["item"] == state["pause_item"] and not os.path.exists(paused):
        with open(paused, "w") as fh:
            fh.write(str(os.getpid()))
        time.sleep(state["pause_seconds"])
    return {"done": [state["item"]]}


def collect(state: FanState) -> dict[str, Any]:
    return {"done": []}


@register_agent("fanout_parts", input_schema=FanInput, output=lambda s: {"done": sorted(s["done"])})
def build_fanout_parts() -> StateGraph:
    """START → (Send per item) part → collect → END."""
    graph = StateGraph(FanState)
    graph.add_node("part", part)
    graph.add_node("collect", collect)
    graph.add_conditional_edges(START, fan_out, ["part"])
    graph.add_edge("part", "collect")
    graph.add_edge("collect", END)
    return graph


class OrmFanInput(BaseModel):
    parts: int = 4


class OrmFanState(TypedDict):
    parts: int
    seen: Annotated[list[int], operator.add]


def _orm_fan_out(state: OrmFanState) -> list[Send]:
    return [Send("lookup", {"part": part}) for part in range(state["parts"])]


def lookup(state: dict[str, Any]) -> dict[str, Any]:
    # A task that reads the application's database through Django, as a node of a Django app would.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT %s", [state["part"]])
        (part,) = cursor.fetchone()
    return {"seen": [part]}


@register_agent("fanout_orm", input_schema=OrmFanInput, output=lambda s: {"seen": sorted(s["seen"])})
def build_fanout_orm() -> StateGraph:
    """START → (Send per part) lookup, each reading the database → END."""
    graph = StateGraph(OrmFanState)
    graph.add_node("lookup", lookup)
    graph.add_conditional_edges(START, _orm_fan_out, ["lookup"])
    graph.add_edge("lookup", END)
    return graph
