"""Agents registered only for tests (STEWARD_AGENT_MODULES=tests.support.graphs)."""

from __future__ import annotations

import json
import operator
import os
import threading
import time
from collections.abc import Sequence
from typing import Annotated, Any, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import create_react_agent
from pydantic import BaseModel, Field

from agents import prompts
from agents.demo.models import Refund
from agents.engine.ledger import run_once
from agents.engine.limits import Limits
from agents.engine.llm import ScriptedChatModel, chat_model_for
from agents.engine.registry import register_agent
from agents.engine.reliability import retry_safe
from agents.engine.tools import run_tool_calls
from tests.support import breakpoint_agents, docs_agents, interrupt_agents, refusing_agents, stream_agents


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
    from agents.engine.models import Run as RunModel

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


# --- limits (tests/agents/test_limits*.py) ------------------------------------------------------

# A node told to stall waits on this (at most its stall_seconds); tests set it to let it go.
STALL = threading.Event()


class LimitedInput(BaseModel):
    topic: str = "limits"
    stall_node: str = ""
    stall_seconds: float = 0.0
    ask_in: str = ""


class LimitedState(TypedDict):
    topic: str
    stall_node: str
    stall_seconds: float
    ask_in: str
    log: Annotated[list[str], operator.add]


def _long_reply(messages: Sequence[BaseMessage]) -> AIMessage:
    # About 100 output tokens: every node costs the same known amount (scripted-demo prices).
    return AIMessage(content="x" * 400)


def _limited_node(name: str) -> Any:
    def node(state: LimitedState, config: RunnableConfig) -> dict[str, Any]:
        from approvals.gate import require_approval

        if state["ask_in"] == name:
            require_approval(queue="default", action="proceed", args={"node": name}, summary=f"May {name} go on?")
        ScriptedChatModel(script=_long_reply).invoke(f"{name}: {state['topic']}", config)
        if state["stall_node"] == name:
            STALL.wait(state["stall_seconds"])
        return {"log": [name]}

    node.__name__ = name
    return node


def build_limited() -> StateGraph:
    """one → two → three → four: each node calls the model once (same cost each); a node may
    stall or ask for approval first, as the input says."""
    graph = StateGraph(LimitedState)
    names = ("one", "two", "three", "four")
    for name in names:
        graph.add_node(name, _limited_node(name))
    graph.add_edge(START, names[0])
    for before, after in zip(names, names[1:], strict=False):
        graph.add_edge(before, after)
    graph.add_edge(names[-1], END)
    return graph


register_agent("limited", input_schema=LimitedInput, output=lambda s: {"log": s["log"]})(build_limited)
register_agent(
    "limited_pause",
    input_schema=LimitedInput,
    output=lambda s: {"log": s["log"]},
    limits=Limits(max_steps=10, on_breach="pause"),
)(build_limited)


# --- a fake model provider and agents for retries, fallbacks and circuit breakers ------------------
# (tests/agents/test_reliability.py; the provider is the one thing tests fake)

PROVIDER_CALLS: dict[str, int] = {}


class BadRequest(Exception):
    """Like a provider SDK's 400: retrying would fail the same way."""

    status_code = 400


class RateLimited(Exception):
    """Like a provider SDK's 429."""

    status_code = 429


class FakeProviderModel(BaseChatModel):
    """A provider's chat model, behaving as its name says: `steady` answers; `down` always
    raises ConnectionError; `flaky-N` times out on its first N calls, then answers; `limited-N`
    answers 429 N times, then answers; `broken` answers 400. Calls are counted per name."""

    model_name: str

    @property
    def _llm_type(self) -> str:
        return "fake-provider"

    def bind_tools(self, tools: Any, **kwargs: Any) -> FakeProviderModel:  # type: ignore[override]
        return self

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        name = self.model_name
        calls = PROVIDER_CALLS[name] = PROVIDER_CALLS.get(name, 0) + 1
        kind, _, count = name.partition("-")
        failing = int(count) if count.isdigit() else 0
        if kind == "down":
            raise ConnectionError(f"{name}: connection refused")
        if kind == "broken":
            raise BadRequest(f"{name}: 400 invalid request")
        if kind == "flaky" and calls <= failing:
            raise TimeoutError(f"{name}: request timed out (call {calls})")
        if kind == "limited" and calls <= failing:
            raise RateLimited(f"{name}: 429 too many requests (call {calls})")
        reply = AIMessage(content=f"answer from {name}: {messages[-1].content}")
        reply.usage_metadata = {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}
        reply.response_metadata = {"model_name": name}
        return ChatResult(generations=[ChatGeneration(message=reply)])


def fake_provider_model(name: str, **settings: Any) -> FakeProviderModel:
    """The STEWARD_MODEL_FACTORIES entry of the `fake` provider ("fake:flaky-2")."""
    return FakeProviderModel(model_name=name)


def _offline_answer(messages: Sequence[BaseMessage]) -> AIMessage:
    return AIMessage(content=f"offline answer: {messages[-1].content}")


def ask_node(state: KnownState, config: RunnableConfig) -> dict[str, Any]:
    model = chat_model_for("resilient", _offline_answer)
    reply = model.invoke([HumanMessage(content=state["topic"])], config)
    return {"result": str(reply.content), "log": ["ask"]}


@register_agent("resilient", input_schema=TopicInput, output=lambda s: {"result": s["result"], "log": s["log"]})
def build_resilient() -> StateGraph:
    """ask (one call to the models configured for "resilient") → finish."""
    graph = StateGraph(KnownState)
    graph.add_node("ask", ask_node)
    graph.add_node("finish", finish_node)
    graph.add_edge(START, "ask")
    graph.add_edge("ask", "finish")
    graph.add_edge("finish", END)
    return graph


TOOL_CALLS: dict[str, int] = {}


@tool
def blip_fetch(key: str) -> str:
    """Reads a value: `blip-N` times out on its first N calls; `broken` fails for good."""
    calls = TOOL_CALLS[key] = TOOL_CALLS.get(key, 0) + 1
    kind, _, count = key.partition("-")
    if kind == "broken":
        raise ValueError(f"{key}: no such record")
    if kind == "blip" and calls <= int(count or 0):
        raise TimeoutError(f"{key}: upstream timed out (call {calls})")
    return json.dumps({"key": key, "value": 7})


retry_safe(blip_fetch)


def blip_node(state: KnownState, config: RunnableConfig) -> dict[str, Any]:
    call = {"name": "blip_fetch", "args": {"key": state["topic"]}, "id": "call_blip", "type": "tool_call"}
    results = run_tool_calls([blip_fetch], AIMessage(content="", tool_calls=[call]), config)
    return {"result": str(results[0].content), "log": ["fetch"]}


@register_agent("blip", input_schema=TopicInput, output=lambda s: {"result": s["result"], "log": s["log"]})
def build_blip() -> StateGraph:
    """fetch (a retry-safe read that times out on its first calls) → finish."""
    graph = StateGraph(KnownState)
    graph.add_node("fetch", blip_node)
    graph.add_node("finish", finish_node)
    graph.add_edge(START, "fetch")
    graph.add_edge("fetch", "finish")
    graph.add_edge("finish", END)
    return graph


class HotelInput(BaseModel):
    hotel: str = Field(min_length=1)


def _hotel_request(data: BaseModel) -> dict[str, Any]:
    return {"messages": [HumanMessage(content=data.hotel)]}  # type: ignore[attr-defined]


# The LangGraph-docs agents of tests/support/docs_agents.py (no Steward import in them).
register_agent("docs_hotel", input_schema=HotelInput, initial_state=_hotel_request)(docs_agents.build_hotel_agent)
register_agent("docs_hotel_reviewed", input_schema=HotelInput, initial_state=_hotel_request)(
    lambda: docs_agents.build_hotel_agent(reviewed=True)
)
register_agent("docs_hotel_trip", input_schema=HotelInput, initial_state=_hotel_request)(docs_agents.build_hotel_trip)
register_agent("docs_hotel_async", input_schema=HotelInput, initial_state=_hotel_request)(docs_agents.build_async_hotel_agent)
register_agent("docs_hotel_tidy", input_schema=HotelInput, initial_state=_hotel_request)(docs_agents.build_tidy_hotel_agent)
register_agent("docs_reservation", input_schema=HotelInput, initial_state=_hotel_request)(docs_agents.build_reservation_agent)


class OrderInput(BaseModel):
    order_id: str = Field(min_length=1)


def _toolnode_script(messages: Sequence[BaseMessage]) -> AIMessage:
    last = messages[-1]
    if isinstance(last, ToolMessage):
        return AIMessage(content=f"done: {last.content}")
    call = {"name": "refund_order", "args": {"order_id": str(last.content)}, "id": "call_toolnode", "type": "tool_call"}
    return AIMessage(content="", tool_calls=[call])


@register_agent(
    "toolnode_gate",
    input_schema=OrderInput,
    initial_state=lambda data: {"messages": [HumanMessage(content=data.model_dump()["order_id"])]},
)
def build_toolnode_gate() -> Any:
    """A prebuilt ReAct agent, returned compiled, whose gated tool runs in LangGraph's ToolNode."""
    from approvals.gate import gated_tool

    @gated_tool(queue="default", summary="Refund {order_id}")
    def refund_order(order_id: str) -> str:
        """Refund an order."""
        return f"refunded {order_id}"

    return create_react_agent(ScriptedChatModel(script=_toolnode_script), tools=[refund_order])


class AsyncGateState(TypedDict, total=False):
    order_id: str
    outcome: str


async def _async_gated_node(state: AsyncGateState) -> dict[str, Any]:
    from approvals.gate import gated_tool

    @gated_tool(queue="default", summary="Cancel {order_id}")
    def cancel_order(order_id: str) -> str:
        """Cancel an order."""
        return f"cancelled {order_id}"

    return {"outcome": str(cancel_order.invoke({"order_id": state["order_id"]}))}


def _one_gated_node(name: str, node: Any) -> StateGraph:
    graph = StateGraph(AsyncGateState)
    graph.add_node(name, node)
    graph.add_edge(START, name)
    graph.add_edge(name, END)
    return graph


@register_agent("async_gate", input_schema=OrderInput, output=lambda s: {"outcome": s["outcome"]})
def build_async_gate() -> StateGraph:
    """One `async def` node calling a gated tool: the gate and the ledger from an event loop."""
    return _one_gated_node("cancel", _async_gated_node)


# --- agents that pause in other shapes (tests/approvals/test_interrupt_shapes.py) ---------------
# The graphs are written the LangChain docs' way, without Steward (tests/support/interrupt_agents.py).


class EmailInput(BaseModel):
    request: str = Field(min_length=1)


class InboxInput(BaseModel):
    to: str


class ItemsInput(BaseModel):
    items: list[str] = ["a", "b"]


register_agent(
    "hitl_email", input_schema=EmailInput, initial_state=lambda d: interrupt_agents.email_request(d.request),  # type: ignore[attr-defined]
    output=interrupt_agents.agent_reply,
)(interrupt_agents.build_hitl_email)
register_agent(
    "hitl_email_per_call", input_schema=EmailInput, initial_state=lambda d: interrupt_agents.email_request(d.request),  # type: ignore[attr-defined]
    output=interrupt_agents.agent_reply,
)(interrupt_agents.build_hitl_email_per_call)
register_agent("inbox_email", input_schema=InboxInput, initial_state=lambda d: {"to": d.to, "outcome": ""},  # type: ignore[attr-defined]
               output=lambda s: {"outcome": s["outcome"]})(interrupt_agents.build_inbox_email)
register_agent("inbox_email_noted", input_schema=InboxInput, initial_state=lambda d: {"to": d.to, "outcome": ""},  # type: ignore[attr-defined]
               output=lambda s: {"outcome": s["outcome"]})(interrupt_agents.build_inbox_email_noted)
register_agent("question", input_schema=TopicInput, initial_state=lambda d: {"topic": d.topic, "answer": None},  # type: ignore[attr-defined]
               output=lambda s: {"answer": s["answer"]})(interrupt_agents.build_question)
register_agent("booking_review", input_schema=TopicInput, initial_state=lambda d: {"topic": d.topic, "answer": None},  # type: ignore[attr-defined]
               output=lambda s: {"answer": s["answer"]})(interrupt_agents.build_booking_review)
register_agent("parallel_questions", input_schema=ItemsInput, initial_state=lambda d: {"items": d.items, "answers": []},  # type: ignore[attr-defined]
               output=lambda s: {"answers": sorted(s["answers"])})(interrupt_agents.build_parallel_questions)


class ItemInput(BaseModel):
    item: str = Field(min_length=1)


# Their nodes refuse an answer they cannot use (tests/approvals/test_answer_refused.py).
for _key, _build in (
    ("order_units", refusing_agents.build_order_units),
    ("order_units_async", refusing_agents.build_order_units_async),
    ("order_then_notify", refusing_agents.build_order_then_notify),
    ("order_units_nested", refusing_agents.build_order_units_nested),
    ("order_units_two_deep", refusing_agents.build_order_units_two_deep),
    ("order_units_called", refusing_agents.build_order_units_called),
):
    register_agent(_key, input_schema=ItemInput,
                   initial_state=lambda d: {"item": d.item, "question": "", "units": 0, "placed": ""},  # type: ignore[attr-defined]
                   output=lambda s: {"units": s["units"], "placed": s["placed"]})(_build)

def _failing_gated_node(state: AsyncGateState) -> dict[str, Any]:
    from approvals.gate import gated_tool

    @gated_tool(queue="default", summary="Charge {order_id}")
    def charge_order(order_id: str) -> str:
        """Charge an order; the provider is down."""
        raise ConnectionError(f"the payment provider is down (charging {order_id})")

    return {"outcome": str(charge_order.invoke({"order_id": state["order_id"]}))}


# Steward's gate, whose approved tool fails in the resumed node: the action failing, not the answer.
@register_agent("charge_gate", input_schema=OrderInput, output=lambda s: {"outcome": s["outcome"]})
def build_charge_gate() -> StateGraph:
    return _one_gated_node("charge", _failing_gated_node)


class PartsInput(BaseModel):
    parts: list[str] = ["nuts", "washers"]


register_agent("order_parts", input_schema=PartsInput, initial_state=lambda d: {"parts": d.parts, "ordered": []},  # type: ignore[attr-defined]
               output=lambda s: {"ordered": sorted(s["ordered"])})(refusing_agents.build_order_parts)


# --- graphs compiled with static breakpoints (tests/agents/test_breakpoints.py) -----------------
# Written the LangGraph docs' way, without Steward (tests/support/breakpoint_agents.py).


class ShipInput(BaseModel):
    order: str = Field(min_length=1)


def _ship_state(data: BaseModel) -> dict[str, Any]:
    return {"order": data.order, "label": "", "shipped": False}  # type: ignore[attr-defined]


def _ship_output(state: dict[str, Any]) -> dict[str, Any]:
    return {"label": state["label"], "shipped": state["shipped"]}


register_agent("ship_before", input_schema=ShipInput, initial_state=_ship_state, output=_ship_output)(
    lambda: breakpoint_agents.before_ship
)
register_agent("ship_after", input_schema=ShipInput, initial_state=_ship_state, output=_ship_output)(
    lambda: breakpoint_agents.after_draft
)
register_agent("ship_each", input_schema=ShipInput, initial_state=_ship_state, output=_ship_output)(
    lambda: breakpoint_agents.before_each
)


# --- prompts and the model helper from an `async def` node (tests/agents/test_async_prompts.py) ---


class AsyncPromptedState(TypedDict):
    topic: str
    reply: str


def _system_texts(messages: Sequence[BaseMessage]) -> AIMessage:
    # Says which prompt versions reached the model: the text of every system message.
    return AIMessage(content=" / ".join(str(m.content) for m in messages if m.type == "system"))


async def _async_prompted_node(state: AsyncPromptedState, config: RunnableConfig) -> dict[str, Any]:
    pinned = prompts.get("async_pinned")  # the sync call, from the event loop
    late = await prompts.aget("async_late")  # not declared by the agent: pinned at its first use
    model = chat_model_for("async_prompted", _system_texts, prompt=pinned)
    messages = [
        *pinned.invoke({"history": [HumanMessage(state["topic"])]}).to_messages(),
        *late.invoke({"history": []}).to_messages(),
    ]
    reply = model.invoke(messages, config)
    return {"reply": str(reply.content)}


@register_agent("async_prompted", input_schema=TopicInput, prompts=["async_pinned"], output=lambda s: {"reply": s["reply"]})
def build_async_prompted() -> StateGraph:
    """An `async def` node reading two prompts and calling the agent's model."""
    graph = StateGraph(AsyncPromptedState)
    graph.add_node("answer", _async_prompted_node)
    graph.add_edge(START, "answer")
    graph.add_edge("answer", END)
    return graph


register_agent("ship_plain", input_schema=ShipInput, initial_state=_ship_state, output=_ship_output)(
    lambda: breakpoint_agents.no_breakpoints
)


class ChatInput(BaseModel):
    messages: list[dict[str, Any]] = []


class NestedInput(BaseModel):
    log: list[str] = []


# The LangGraph SDK streaming tests' agents (tests/support/stream_agents.py, no Steward import).
register_agent("stream_chat", input_schema=ChatInput)(stream_agents.build_chat)
register_agent("stream_nested", input_schema=NestedInput)(stream_agents.build_nested)
register_agent("stream_ask", input_schema=ChatInput)(stream_agents.build_ask)
register_agent("stream_async_chat", input_schema=ChatInput)(stream_agents.build_async_chat)
register_agent("stream_bulk_report", input_schema=ChatInput)(stream_agents.build_bulk_report)
