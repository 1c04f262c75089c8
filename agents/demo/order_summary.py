"""The `order_summary` demo agent: several model and tool steps, no gate."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from pydantic import BaseModel, Field

from agents import prompts
from agents.demo.common import (
    call,
    final_answer,
    last_ai_has_tool_calls,
    last_ai_message,
    request_message,
    request_of,
    tool_results,
    with_prompt,
)
from agents.llm import chat_model_for
from agents.registry import register_agent
from agents.tools import run_tool_calls


class OrderSummaryInput(BaseModel):
    customer_id: str = Field(min_length=1, max_length=64, description="Customer id, e.g. C-42")


@tool
def list_orders(customer_id: str) -> str:
    """The customer's recent orders (demo data derived from the id)."""
    seed = sum(ord(c) for c in customer_id)
    orders = [{"order_id": f"A-{1000 + (seed + i) % 900}", "total": 20 + (seed * (i + 3)) % 180} for i in range(3)]
    return json.dumps(orders)


@tool
def shipping_status(order_ids: list[str]) -> str:
    """Where each order is."""
    states = ["delivered", "in transit", "processing"]
    return json.dumps({oid: states[sum(map(ord, oid)) % 3] for oid in order_ids})


TOOLS = [list_orders, shipping_status]


def script(messages: Sequence[BaseMessage]) -> AIMessage:
    request = request_of(messages)
    done = tool_results(messages)
    if "list_orders" not in done:
        return call("list_orders", {"customer_id": request["customer_id"]}, "call_orders")
    orders = json.loads(done["list_orders"])
    if "shipping_status" not in done:
        return call("shipping_status", {"order_ids": [o["order_id"] for o in orders]}, "call_shipping")
    shipping = json.loads(done["shipping_status"])
    lines = [f"{o['order_id']} ({o['total']} USD): {shipping.get(o['order_id'], 'unknown')}" for o in orders]
    return AIMessage(content=f"Customer {request['customer_id']} has {len(orders)} recent orders: " + "; ".join(lines))


def agent_node(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
    template, messages = with_prompt("order_summary_system", state["messages"], config)
    model = chat_model_for("order_summary", script, TOOLS, prompt=template)
    return {"messages": [model.invoke(messages, config)]}


def tools_node(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
    return {"messages": run_tool_calls(TOOLS, last_ai_message(state["messages"]), config)}


def initial_state(data: BaseModel) -> dict[str, Any]:
    return {"messages": [request_message(data.model_dump())]}


prompts.declare(
    "order_summary_system",
    [
        {"role": "system", "content": "You summarise a customer's recent orders for the support team of {shop_name}: one line per order, newest first."},
        {"role": "placeholder", "name": "history"},
    ],
    description="System prompt of the order_summary demo agent",
    model_settings={"model": "scripted-demo", "temperature": 0},
)


@register_agent(
    "order_summary",
    prompts=["order_summary_system"],
    input_schema=OrderSummaryInput,
    name="Order summary",
    initial_state=initial_state,
    output=final_answer,
    example_input={"customer_id": "C-42"},
)
def build() -> StateGraph:
    """Lists a customer's orders, checks their shipping and summarises: three model calls, two tools."""
    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent_node)
    graph.add_node("tools", tools_node)
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", last_ai_has_tool_calls, ["tools", END])
    graph.add_edge("tools", "agent")
    return graph
