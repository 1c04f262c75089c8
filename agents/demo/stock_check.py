"""The `stock_check` demo agent: its inventory tool fails for SKUs starting with BROKEN."""

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


class StockCheckInput(BaseModel):
    sku: str = Field(
        min_length=1,
        max_length=64,
        description="Product SKU, e.g. SKU-7. A SKU starting with BROKEN makes the inventory service fail.",
    )


class InventoryServiceError(RuntimeError):
    pass


@tool
def check_inventory(sku: str) -> str:
    """Units in stock per warehouse."""
    if sku.upper().startswith("BROKEN"):
        raise InventoryServiceError(f"inventory service answered 503 Service Unavailable for {sku}")
    seed = sum(map(ord, sku))
    return json.dumps({"sku": sku, "warehouses": {"north": seed % 40, "south": (seed * 7) % 25}})


def script(messages: Sequence[BaseMessage]) -> AIMessage:
    request = request_of(messages)
    done = tool_results(messages)
    if "check_inventory" not in done:
        return call("check_inventory", {"sku": request["sku"]}, "call_inventory")
    stock = json.loads(done["check_inventory"])
    total = sum(stock["warehouses"].values())
    return AIMessage(content=f"{request['sku']}: {total} units in stock.")


def agent_node(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
    template, messages = with_prompt("stock_check_system", state["messages"], config)
    model = chat_model_for("stock_check", script, [check_inventory], prompt=template)
    return {"messages": [model.invoke(messages, config)]}


def tools_node(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
    return {"messages": run_tool_calls([check_inventory], last_ai_message(state["messages"]), config)}


def initial_state(data: BaseModel) -> dict[str, Any]:
    return {"messages": [request_message(data.model_dump())]}


prompts.declare(
    "stock_check_system",
    [
        {"role": "system", "content": "You check stock levels across {shop_name}'s warehouses and answer with the total units in stock."},
        {"role": "placeholder", "name": "history"},
    ],
    description="System prompt of the stock_check demo agent",
    model_settings={"model": "scripted-demo", "temperature": 0},
)


@register_agent(
    "stock_check",
    prompts=["stock_check_system"],
    input_schema=StockCheckInput,
    name="Stock check",
    initial_state=initial_state,
    output=final_answer,
    example_input={"sku": "BROKEN-42"},
)
def build() -> StateGraph:
    """Checks stock for a SKU. Input {"sku": "BROKEN-42"} makes its tool fail: practise replay on it."""
    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent_node)
    graph.add_node("tools", tools_node)
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", last_ai_has_tool_calls, ["tools", END])
    graph.add_edge("tools", "agent")
    return graph
