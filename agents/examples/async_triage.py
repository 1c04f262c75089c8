"""A support triage graph of `async def` nodes: it sorts a ticket, asks a person how to answer it with `interrupt(..., response_schema=...)`, then sends the answer.

Try it with `{"ticket": "I was charged twice for my March invoice"}`; answer with `{"reply": "..."}`.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

# Every reply really sent, in order (a stand-in for the helpdesk).
REPLIES: list[str] = []

ANSWER = {
    "type": "object",
    "properties": {"reply": {"type": "string", "minLength": 1, "description": "What to tell the customer"}},
    "required": ["reply"],
}


class Ticket(TypedDict, total=False):
    ticket: str
    category: str
    reply: str
    sent: bool


async def classify(state: Ticket) -> dict[str, Any]:
    await asyncio.sleep(0)  # e.g. a call to a classifier service
    words = state["ticket"].lower()
    return {"category": "billing" if any(w in words for w in ("invoice", "charged", "refund")) else "general"}


async def ask_human(state: Ticket) -> dict[str, Any]:
    answer = interrupt(
        {"question": "How should we answer this ticket?", "ticket": state["ticket"], "category": state["category"]},
        response_schema=ANSWER,
    )
    return {"reply": answer["reply"]}


async def send_reply(state: Ticket) -> dict[str, Any]:
    await asyncio.sleep(0)  # e.g. the helpdesk's API
    REPLIES.append(state["reply"])
    return {"sent": True}


builder = StateGraph(Ticket)
builder.add_node("classify", classify)
builder.add_node("ask_human", ask_human)
builder.add_node("send_reply", send_reply)
builder.add_edge(START, "classify")
builder.add_edge("classify", "ask_human")
builder.add_edge("ask_human", "send_reply")
builder.add_edge("send_reply", END)
graph = builder.compile()
