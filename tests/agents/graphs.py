"""Agents registered only for tests (STEWARD_AGENT_MODULES=tests.agents.graphs)."""

from __future__ import annotations

import json
import operator
import os
import time
from collections.abc import Sequence
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, Field

from agents.ledger import run_once
from agents.llm import ScriptedChatModel
from agents.models import Refund
from agents.registry import register_agent
from agents.tools import run_tool_calls


class TopicInput(BaseModel):
    topic: str = Field(min_length=1)


class KnownState(TypedDict):
    topic: str
    log: Annotated[list[str], operator.add]
    plan: str
    result: str


def _plan_script(messages: Sequence[BaseMessage]) -> AIMessage:
    return AIMessage(
        content="",
        tool_calls=[{"name": "measure", "args": {"topic": str(messages[-1].content)}, "id": "call_measure", "type": "tool_call"}],
    )


@tool
def measure(topic: str) -> str:
    """Measure a topic."""
    if topic == "explode":
        raise ValueError("cannot measure explode")
    return json.dumps({"topic": topic, "size": len(topic)})


def plan_node(state: KnownState, config: RunnableConfig) -> dict[str, Any]:
    reply = ScriptedChatModel(script=_plan_script).invoke(state["topic"], config)
    return {"plan": json.dumps(reply.tool_calls), "log": ["plan"]}


def act_node(state: KnownState, config: RunnableConfig) -> dict[str, Any]:
    calls = json.loads(state["plan"])
    results = run_tool_calls([measure], AIMessage(content="", tool_calls=calls), config)
    return {"result": str(results[0].content), "log": ["act"]}


def finish_node(state: KnownState) -> dict[str, Any]:
    return {"log": ["finish"]}


def route_after_act(state: KnownState) -> str:
    return "finish"


@register_agent("known", input_schema=TopicInput, output=lambda s: {"result": s["result"], "log": s["log"]})
def build_known() -> StateGraph:
    """plan (one model call) → act (one tool call) → routing function → finish."""
    graph = StateGraph(KnownState)
    graph.add_node("plan", plan_node)
    graph.add_node("act", act_node)
    graph.add_node("finish", finish_node)
    graph.add_edge(START, "plan")
    graph.add_edge("plan", "act")
    graph.add_conditional_edges("act", route_after_act, ["finish"])
    graph.add_edge("finish", END)
    return graph


class PayInput(BaseModel):
    order_id: str
    amount: float = 10.0
    pause_seconds: float = 0.0


class PayState(TypedDict):
    order_id: str
    amount: float
    pause_seconds: float
    log: Annotated[list[str], operator.add]


def _step(name: str) -> Any:
    def node(state: PayState) -> dict[str, Any]:
        return {"log": [name]}

    node.__name__ = name
    return node


def pay_node(state: PayState, config: RunnableConfig) -> dict[str, Any]:
    run_id = config["configurable"]["steward_run_id"]

    def refund() -> dict[str, Any]:
        row = Refund.objects.create(order_id=state["order_id"], amount=state["amount"], run_id=run_id)
        return {"refund_id": row.id}

    result, repeated = run_once(
        key=f"refund:{state['order_id']}", action="refund", args={"order_id": state["order_id"]}, effect=refund, run_id=run_id
    )
    if not repeated and state["pause_seconds"]:
        # The crash test kills the worker here: the refund is committed, the step is not.
        marker = os.environ.get("STEWARD_TEST_PAUSE_MARKER")
        if marker:
            with open(marker, "w") as fh:
                fh.write(str(os.getpid()))
        time.sleep(state["pause_seconds"])
    return {"log": [f"pay:{result['refund_id']}"]}


@register_agent("pay_steps", input_schema=PayInput, output=lambda s: {"log": s["log"]})
def build_pay_steps() -> StateGraph:
    """a → b → pay (a ledgered refund, optionally pausing) → c → d."""
    graph = StateGraph(PayState)
    for name in ("a", "b", "c", "d"):
        graph.add_node(name, _step(name))
    graph.add_node("pay", pay_node)
    graph.add_edge(START, "a")
    graph.add_edge("a", "b")
    graph.add_edge("b", "pay")
    graph.add_edge("pay", "c")
    graph.add_edge("c", "d")
    graph.add_edge("d", END)
    return graph


class CancelInput(BaseModel):
    note: str = "x"


class CancelState(TypedDict):
    note: str
    log: Annotated[list[str], operator.add]


def cancel_from_inside(state: CancelState, config: RunnableConfig) -> dict[str, Any]:
    # Someone cancels the run while this step is running.
    from agents.models import Run as RunModel

    RunModel.objects.filter(id=config["configurable"]["steward_run_id"]).update(status="cancelled")
    return {"log": ["first"]}


@register_agent("cancelled_midway", input_schema=CancelInput, output=lambda s: {"log": s["log"]})
def build_cancelled_midway() -> StateGraph:
    """first (the run is cancelled while it runs) → second: second must never run."""
    graph = StateGraph(CancelState)
    graph.add_node("first", cancel_from_inside)
    graph.add_node("second", _step("second"))
    graph.add_edge(START, "first")
    graph.add_edge("first", "second")
    graph.add_edge("second", END)
    return graph


FLAKY_FAILURES: dict[str, int] = {}


@tool
def flaky_fetch(key: str) -> str:
    """Fails the first time for each key (a transient error), then answers."""
    if FLAKY_FAILURES.get(key, 0) < 1:
        FLAKY_FAILURES[key] = FLAKY_FAILURES.get(key, 0) + 1
        raise ConnectionError(f"transient: upstream reset the connection for {key}")
    return json.dumps({"key": key, "value": 42})


def flaky_node(state: KnownState, config: RunnableConfig) -> dict[str, Any]:
    call = {"name": "flaky_fetch", "args": {"key": state["topic"]}, "id": "call_flaky", "type": "tool_call"}
    results = run_tool_calls([flaky_fetch], AIMessage(content="", tool_calls=[call]), config)
    return {"result": str(results[0].content), "log": ["fetch"]}


@register_agent("flaky", input_schema=TopicInput, output=lambda s: {"result": s["result"], "log": s["log"]})
def build_flaky() -> StateGraph:
    """plan → fetch (fails once per topic, like a network blip) → finish."""
    graph = StateGraph(KnownState)
    graph.add_node("plan", plan_node)
    graph.add_node("fetch", flaky_node)
    graph.add_node("finish", finish_node)
    graph.add_edge(START, "plan")
    graph.add_edge("plan", "fetch")
    graph.add_edge("fetch", "finish")
    graph.add_edge("finish", END)
    return graph
