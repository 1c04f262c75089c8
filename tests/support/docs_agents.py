"""Agents written the LangGraph docs way: no Steward import anywhere in them.

A hotel agent (a model node and a `ToolNode`) whose tool books a hotel by appending to
`BOOKINGS`, optionally asking a human first with a plain `interrupt()`; and a parent graph that
runs the same agent as a subgraph. `MODEL_CALLS` counts the model's calls. They are
registered for tests in tests/support/graphs.py.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
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


def build_hotel_trip() -> StateGraph:
    """A parent graph whose `booking` node is the hotel agent, compiled as a subgraph."""
    graph = StateGraph(MessagesState)
    graph.add_node("booking", build_hotel_agent().compile())
    graph.add_edge(START, "booking")
    graph.add_edge("booking", END)
    return graph
