"""The `stock_check` demo agent: its inventory tool fails for SKUs starting with BROKEN."""

from __future__ import annotations

import json
from collections.abc import Sequence

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.tools import tool
from pydantic import BaseModel, Field

from agents.demo.common import call, register_tool_loop_agent, request_of, tool_results


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


build = register_tool_loop_agent(
    "stock_check",
    name="Stock check",
    description='Checks stock for a SKU. Input {"sku": "BROKEN-42"} makes its tool fail: practise replay on it.',
    input_schema=StockCheckInput,
    example_input={"sku": "BROKEN-42"},
    tools=[check_inventory],
    script=script,
    instructions="You check stock levels across {shop_name}'s warehouses and answer with the total units in stock.",
)
