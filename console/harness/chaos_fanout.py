"""The fan-out agent of `manage.py chaos` (`chaos_fanout`, chaos only): one `Send` task per
part, each a ledgered side effect (a refund row per part) that takes a little while, so kills
land while a step of several tasks is running. A task that finished before a kill must not run
again (its writes and span committed when it ended): the checks count its span once and its
refund once."""

from __future__ import annotations

import operator
import random
import time
from typing import Annotated, Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send
from pydantic import BaseModel, Field

from agents.demo.models import Refund
from agents.engine.ledger import run_once
from agents.engine.registry import register_agent

__all__ = ["CHAOS_FANOUT", "PARTS", "part_order_ids"]

CHAOS_FANOUT = "chaos_fanout"
PARTS = 4


class FanoutInput(BaseModel):
    order_id: str = Field(min_length=1, max_length=40)


class FanoutState(TypedDict):
    order_id: str
    done: Annotated[list[str], operator.add]


class PartState(TypedDict):
    order_id: str
    part: int


def part_order_ids(order_id: str) -> list[str]:
    return [f"{order_id}-p{part}" for part in range(PARTS)]


def _fan_out(state: FanoutState) -> list[Send]:
    return [Send("part", {"order_id": state["order_id"], "part": part}) for part in range(PARTS)]


def _part(state: PartState, config: RunnableConfig) -> dict[str, Any]:
    order = f"{state['order_id']}-p{state['part']}"
    # Work before and after the effect: a kill lands anywhere in the step.
    time.sleep(random.uniform(0.01, 0.06))
    run_once(
        key=f"refund:{order}",
        action="refund",
        args={"order_id": order},
        effect=lambda: {"id": Refund.objects.create(order_id=order, amount=1, run_id=config["configurable"]["steward_run_id"]).id},
        run_id=config["configurable"]["steward_run_id"],
    )
    time.sleep(random.uniform(0.01, 0.06))
    return {"done": [order]}


def _collect(state: FanoutState) -> dict[str, Any]:
    return {"done": []}


@register_agent(
    CHAOS_FANOUT,
    input_schema=FanoutInput,
    name="Chaos: fan-out",
    output=lambda s: {"done": sorted(s["done"])},
    description="manage.py chaos only: a Send fan-out of ledgered refunds, one per part.",
)
def build() -> StateGraph:
    """START → part × PARTS (Send) → collect → END."""
    graph = StateGraph(FanoutState)
    graph.add_node("part", _part)
    graph.add_node("collect", _collect)
    graph.add_conditional_edges(START, _fan_out, ["part"])
    graph.add_edge("part", "collect")
    graph.add_edge("collect", END)
    return graph
