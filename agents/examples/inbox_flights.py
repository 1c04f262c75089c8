"""A flight booking agent whose tool is wrapped for Agent Inbox: before it runs, the wrapper asks a person with a `HumanInterrupt` (accept, edit, respond or ignore), as in LangGraph's Agent Inbox guide.

Try it with `{"messages": [{"role": "user", "content": "fly to Lisbon"}]}`. The Agent Inbox types
are defined here (as its README shows them): `langgraph.prebuilt.interrupt` is deprecated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypedDict

from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, tool
from langchain_core.tools import tool as create_tool
from langgraph.types import interrupt

# --- Agent Inbox's types ------------------------------------------------------------------------


class HumanInterruptConfig(TypedDict):
    allow_ignore: bool
    allow_respond: bool
    allow_edit: bool
    allow_accept: bool


class ActionRequest(TypedDict):
    action: str
    args: dict[str, Any]


class HumanInterrupt(TypedDict):
    action_request: ActionRequest
    config: HumanInterruptConfig
    description: str | None


class HumanResponse(TypedDict):
    type: Literal["accept", "ignore", "response", "edit"]
    args: None | str | ActionRequest


def add_human_in_the_loop(tool: Callable[..., Any] | BaseTool, *, interrupt_config: HumanInterruptConfig | None = None) -> BaseTool:
    """Wrap a tool so that a person reviews each call in Agent Inbox before it runs."""
    if not isinstance(tool, BaseTool):
        tool = create_tool(tool)
    review: HumanInterruptConfig = interrupt_config or {
        "allow_accept": True, "allow_edit": True, "allow_respond": True, "allow_ignore": True,
    }

    @create_tool(tool.name, description=tool.description, args_schema=tool.args_schema)
    def call_tool_with_interrupt(config: RunnableConfig, **tool_input: Any) -> Any:
        request: HumanInterrupt = {
            "action_request": {"action": tool.name, "args": tool_input},
            "config": review,
            "description": f"**{tool.name}** wants to run with:\n\n" + "\n".join(f"- {k}: {v}" for k, v in tool_input.items()),
        }
        response: HumanResponse = interrupt([request])[0]
        if response["type"] == "accept":
            return tool.invoke(tool_input, config)
        if response["type"] == "edit":
            edited = response["args"]
            assert isinstance(edited, dict)
            return tool.invoke(edited["args"], config)
        if response["type"] == "response":
            return f"The user answered instead: {response['args']}"
        if response["type"] == "ignore":
            return f"The user chose not to run {tool.name}."
        raise ValueError(f"Unsupported interrupt response type: {response['type']}")

    return call_tool_with_interrupt


# --- the agent ----------------------------------------------------------------------------------

# Every flight really booked, in order (a stand-in for the booking system).
FLIGHTS: list[str] = []


@tool
def book_flight(destination: str) -> str:
    """Book a flight to a destination."""
    FLIGHTS.append(destination)
    return f"Booked a flight to {destination}."


class FakeTravelModel(BaseChatModel):
    """Offline stand-in for a chat model: asked "fly to X", it calls `book_flight` for X, then
    repeats what the tool said."""

    @property
    def _llm_type(self) -> str:
        return "fake-travel-model"

    def bind_tools(self, tools: Any, **kwargs: Any) -> FakeTravelModel:
        return self

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        if isinstance(messages[-1], ToolMessage):
            reply = AIMessage(content=str(messages[-1].content))
        else:
            destination = str(messages[-1].content).partition(" to ")[2].strip() or "somewhere"
            call = {"name": "book_flight", "args": {"destination": destination}, "id": "call_flight", "type": "tool_call"}
            reply = AIMessage(content="", tool_calls=[call])
        return ChatResult(generations=[ChatGeneration(message=reply)])


agent = create_agent(model=FakeTravelModel(), tools=[add_human_in_the_loop(book_flight)], name="inbox_flights")
