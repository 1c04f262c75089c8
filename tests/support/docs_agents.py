"""Agents written the LangGraph docs way: no Steward import anywhere in them.

A hotel agent (a model node and a `ToolNode`) whose tool books a hotel by appending to
`BOOKINGS`, optionally asking a human first with a plain `interrupt()`; and a parent graph that
runs the same agent as a subgraph. `MODEL_CALLS` counts the model's calls. A LangChain
`create_agent` whose tool reserves a table by appending a line to `RESERVATIONS_FILE`, with a
`@dynamic_prompt` reading `HOUSE_RULES` (a test changes it to stand for changed code);
`RESERVER_CALLS` counts its model's calls. They are registered for tests in tests/support/graphs.py.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import ModelRequest, dynamic_prompt
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.types import interrupt

# Every hotel the tool booked, in order: a replay that runs the tool again adds one.
BOOKINGS: list[str] = []
# How many times the fake model was called, in this process.
MODEL_CALLS = [0]


class HotelModel(BaseChatModel):
    """A fake provider: asks for `book_hotel` once, then answers with the tool's result."""

    @property
    def _llm_type(self) -> str:
        return "hotel-fake"

    def bind_tools(self, tools: Any, **kwargs: Any) -> HotelModel:  # type: ignore[override]
        return self

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        MODEL_CALLS[0] += 1
        if messages[-1].type == "tool":
            reply = AIMessage(content=f"Done: {messages[-1].content}")
        else:
            hotel = str(messages[-1].content)
            reply = AIMessage(content="", tool_calls=[{"name": "book_hotel", "args": {"hotel_name": hotel}, "id": "call_book", "type": "tool_call"}])
        return ChatResult(generations=[ChatGeneration(message=reply)])


@tool
def book_hotel(hotel_name: str) -> str:
    """Book a stay at a hotel."""
    BOOKINGS.append(hotel_name)
    return f"Successfully booked a stay at {hotel_name}."


@tool("book_hotel")
def book_hotel_after_review(hotel_name: str) -> str:
    """Book a stay at a hotel once a human has said yes."""
    interrupt(f"Book {hotel_name}?")
    return book_hotel.invoke({"hotel_name": hotel_name})


def _agent_node(state: MessagesState) -> dict[str, Any]:
    return {"messages": [HotelModel().invoke(state["messages"])]}


def build_hotel_agent(reviewed: bool = False) -> StateGraph:
    """model → tools → model, as in LangGraph's tool-calling tutorial."""
    graph = StateGraph(MessagesState)
    graph.add_node("agent", _agent_node)
    graph.add_node("tools", ToolNode([book_hotel_after_review if reviewed else book_hotel]))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    return graph


class StreamingHotelModel(HotelModel):
    """The same provider, streaming its reply (one chunk; tool calls as tool-call chunks)."""

    def _stream(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        reply = self._generate(messages).generations[0].message
        assert isinstance(reply, AIMessage)
        chunks = [
            {"name": c["name"], "args": json.dumps(c["args"]), "id": c["id"], "index": i, "type": "tool_call_chunk"}
            for i, c in enumerate(reply.tool_calls)
        ]
        yield ChatGenerationChunk(message=AIMessageChunk(content=reply.content, tool_call_chunks=chunks))  # type: ignore[arg-type]


async def _streaming_agent_node(state: MessagesState) -> dict[str, Any]:
    reply: Any = None
    async for chunk in StreamingHotelModel().astream(state["messages"]):
        reply = chunk if reply is None else reply + chunk
    return {"messages": [reply]}


def build_async_hotel_agent() -> StateGraph:
    """The hotel agent with an `async def` node that streams the model's reply (`astream`)."""
    graph = StateGraph(MessagesState)
    graph.add_node("agent", _streaming_agent_node)
    graph.add_node("tools", ToolNode([book_hotel]))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    return graph


# How the `tidy` node spells hotel names before booking; a test changes it to stand for changed code.
TIDY = [str.title]


def _tidy_node(state: MessagesState) -> dict[str, Any]:
    """Rewrites the model's tool calls (the names spelt the house way) before they run."""
    last = state["messages"][-1]
    calls = [{**c, "args": {"hotel_name": TIDY[0](c["args"]["hotel_name"])}} for c in last.tool_calls]  # type: ignore[attr-defined]
    return {"messages": [AIMessage(content=last.content, tool_calls=calls, id=last.id)]}


def build_tidy_hotel_agent() -> StateGraph:
    """model → tidy → tools (which turn any tool error into a message for the model) → end."""
    graph = StateGraph(MessagesState)
    graph.add_node("agent", _agent_node)
    graph.add_node("tidy", _tidy_node)
    graph.add_node("tools", ToolNode([book_hotel], handle_tool_errors=True))
    graph.add_edge(START, "agent")
    graph.add_edge("agent", "tidy")
    graph.add_edge("tidy", "tools")
    graph.add_edge("tools", END)
    return graph


def build_hotel_trip() -> StateGraph:
    """A parent graph whose `booking` node is the hotel agent, compiled as a subgraph."""
    graph = StateGraph(MessagesState)
    graph.add_node("booking", build_hotel_agent().compile())
    graph.add_edge(START, "booking")
    graph.add_edge("booking", END)
    return graph


# One line per table the tool reserved (a test points this at a file of its own).
RESERVATIONS_FILE = [Path(tempfile.gettempdir()) / "docs-reservations.txt"]
RESERVER_CALLS = [0]
# The agent's system prompt; a test changes it to stand for an edit of the agent's code.
HOUSE_RULES = ["You reserve tables at the Blue Door."]


class ReservingModel(BaseChatModel):
    """A fake provider: asks for `reserve_table` once, then answers with the tool's result."""

    @property
    def _llm_type(self) -> str:
        return "reserving-fake"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ReservingModel:  # type: ignore[override]
        return self

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        RESERVER_CALLS[0] += 1
        if messages[-1].type == "tool":
            reply = AIMessage(content=f"Done: {messages[-1].content}")
        else:
            party = str(messages[-1].content)
            reply = AIMessage(content="", tool_calls=[{"name": "reserve_table", "args": {"party": party}, "id": "call_reserve", "type": "tool_call"}])
        return ChatResult(generations=[ChatGeneration(message=reply)])


@tool
def reserve_table(party: str) -> str:
    """Reserve a table for a party."""
    with RESERVATIONS_FILE[0].open("a") as reservations:
        reservations.write(party + "\n")
    number = len(RESERVATIONS_FILE[0].read_text().splitlines())
    return f"Table reserved for {party} (reservation #{number})."


@dynamic_prompt
def house_rules(request: ModelRequest) -> str:
    return HOUSE_RULES[0]


def build_reservation_agent() -> Any:
    """LangChain's `create_agent` (compiled), as its quickstart writes one."""
    return create_agent(model=ReservingModel(), tools=[reserve_table], middleware=[house_rules])
