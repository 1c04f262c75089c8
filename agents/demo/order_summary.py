"""The `order_summary` demo agent: several model and tool steps, no gate."""

from __future__ import annotations

import json
from collections.abc import Sequence

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.tools import tool
from pydantic import BaseModel, Field

from agents.demo.common import call, register_tool_loop_agent, request_of, tool_results


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


build = register_tool_loop_agent(
    "order_summary",
    name="Order summary",
    description="Lists a customer's orders, checks their shipping and summarises: three model calls, two tools.",
    input_schema=OrderSummaryInput,
    example_input={"customer_id": "C-42"},
    tools=TOOLS,
    script=script,
    instructions="You summarise a customer's recent orders for the support team of {shop_name}: one line per order, newest first.",
)
