"""The `refund` demo agent: looks an order up and proposes a refund; over 100 needs approval."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.config import get_config
from langgraph.graph import END, START, MessagesState, StateGraph
from pydantic import BaseModel, Field

from agents import prompts
from agents.demo.common import (
    call,
    final_answer,
    last_ai_has_tool_calls,
    last_ai_message,
    request_of,
    request_state,
    sign_off,
    tool_results,
    with_prompt,
)
from agents.demo.models import Refund
from agents.engine.llm import chat_model_for
from agents.engine.registry import register_agent
from agents.engine.tools import run_tool_calls
from approvals.gate import gated_tool


class RefundInput(BaseModel):
    order_id: str = Field(min_length=1, max_length=64, description="The order to refund, e.g. A-1001")
    amount: float = Field(gt=0, le=1_000_000, description="Amount to refund")
    reason: str = Field(min_length=1, max_length=2000, description="Why the customer wants a refund")


@tool
def lookup_order(order_id: str) -> str:
    """Look an order up in the shop (a fixed demo catalogue: every order exists)."""
    return json.dumps({"order_id": order_id, "status": "delivered", "total": 500.0, "currency": "USD"})


@gated_tool(
    queue="payments",
    summary="Refund {amount} on order {order_id}",
    condition="amount > 100",
    business_key=lambda args: f"refund:{args['order_id']}",
    currencies={"amount": "USD"},
)
def issue_refund(
    order_id: Annotated[str, Field(min_length=1, max_length=64)],
    amount: Annotated[float, Field(gt=0, le=1_000_000)],
) -> dict[str, Any]:
    """Refund an amount on an order. Refunds over 100 need a reviewer's approval."""
    configurable = get_config().get("configurable", {})
    refund = Refund.objects.create(
        order_id=order_id, amount=Decimal(str(amount)).quantize(Decimal("0.01")), run_id=configurable.get("steward_run_id")
    )
    return {"refund_id": refund.id, "order_id": order_id, "amount": float(refund.amount), "status": "refunded"}


TOOLS = [lookup_order, issue_refund]


def script(messages: Sequence[BaseMessage]) -> AIMessage:
    reply = _next_move(messages)
    if not reply.tool_calls:
        reply.content = sign_off(messages, str(reply.content))
    return reply


def _next_move(messages: Sequence[BaseMessage]) -> AIMessage:
    request = request_of(messages)
    done = tool_results(messages)
    if "lookup_order" not in done:
        return call("lookup_order", {"order_id": request["order_id"]}, "call_lookup")
    if "issue_refund" not in done:
        return call("issue_refund", {"order_id": request["order_id"], "amount": request["amount"]}, "call_refund")
    result = done["issue_refund"]
    if result.startswith("reviewer responded:"):
        note = result.split(":", 1)[1].strip()
        return AIMessage(
            content=f"A colleague reviewed your refund request for order {request['order_id']} and says: {note}"
        )
    if result.startswith("rejected:"):
        _, code, comment = (result.split(":", 2) + ["", ""])[:3]
        why = comment.strip() or code.strip()
        return AIMessage(
            content=f"I'm sorry, we cannot refund order {request['order_id']}: {why}. "
            "No refund was issued; a colleague will follow up if you have questions."
        )
    if result.startswith("error:"):
        # The tool refused (e.g. the order was already refunded another amount): nothing was done.
        why = result.split(":", 1)[1].strip()
        return AIMessage(
            content=f"I'm sorry, I could not refund {request['amount']} on order {request['order_id']}: {why}. "
            "No refund was issued for this request."
        )
    # What the tool did, not what was asked: a reviewer may have edited the amount.
    refund = json.loads(result)
    return AIMessage(content=f"Done: {refund['amount']} has been refunded on order {refund['order_id']}.")


def agent_node(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
    template, messages = with_prompt("refund_system", state["messages"], config)
    model = chat_model_for("refund", script, TOOLS, prompt=template)
    return {"messages": [model.invoke(messages, config)]}


def lookup_node(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
    return {"messages": run_tool_calls([lookup_order], last_ai_message(state["messages"]), config)}


def refund_node(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
    # Its own node: it runs again from here when the run resumes after the approval.
    return {"messages": run_tool_calls([issue_refund], last_ai_message(state["messages"]), config)}


def route(state: MessagesState) -> str:
    if last_ai_has_tool_calls(state) == "__end__":
        return END
    name = last_ai_message(state["messages"]).tool_calls[0]["name"]
    return "refund" if name == "issue_refund" else "lookup"


prompts.declare(
    "refund_system",
    [
        {"role": "system", "content": "You are the refund assistant of {shop_name}. Look the order up before you propose a refund, and never refund more than the order's total.\nSign-off: {shop_name} customer care"},
        {"role": "placeholder", "name": "history"},
    ],
    description="System prompt of the refund demo agent",
    model_settings={"model": "scripted-demo", "temperature": 0},
)


@register_agent(
    "refund",
    prompts=["refund_system"],
    input_schema=RefundInput,
    name="Refund",
    initial_state=request_state,
    output=final_answer,
    example_input={"order_id": "A-1001", "amount": 250, "reason": "arrived broken"},
)
def build() -> StateGraph:
    """Looks the order up and proposes issue_refund; refunds over 100 wait in the `payments` queue."""
    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent_node)
    graph.add_node("lookup", lookup_node)
    graph.add_node("refund", refund_node)
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", route, ["lookup", "refund", END])
    graph.add_edge("lookup", "agent")
    graph.add_edge("refund", "agent")
    return graph
