"""A prebuilt ReAct agent as LangGraph's docs write it, compiled with a breakpoint before its tools."""

from __future__ import annotations

from fake_model import OneToolCallModel
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.prebuilt import create_react_agent
from refund_ledger import ISSUED


@tool
def issue_refund(order_id: str, amount: float) -> str:
    """Refund an order."""
    ISSUED.append({"order_id": order_id, "amount": amount})
    return f"refunded {amount} on {order_id}"


model = OneToolCallModel(tool_name="issue_refund", tool_args={"order_id": "A-1", "amount": 12.5})

# The docs' InMemorySaver: the host attaches its own checkpointer instead.
graph = create_react_agent(
    model,
    tools=[issue_refund],
    checkpointer=InMemorySaver(),
    interrupt_before=["tools"],
    name="refund_react",
)
