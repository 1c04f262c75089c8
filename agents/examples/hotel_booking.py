"""A hotel booking agent: LangGraph's prebuilt `create_react_agent` whose tool asks a person with `interrupt()` before it books, as in LangGraph's human-in-the-loop guide.

Try it with `{"messages": [{"role": "user", "content": "book a stay at the McKittrick Hotel"}]}`;
answer the question with `{"type": "accept"}` or `{"type": "edit", "args": {"hotel_name": "..."}}`.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.prebuilt import create_react_agent
from langgraph.types import interrupt

# Every stay really booked, in order (a stand-in for the booking system).
BOOKINGS: list[str] = []

# What the human may answer: accept the booking, or edit the hotel's name.
REVIEW = {
    "type": "object",
    "properties": {
        "type": {"enum": ["accept", "edit"]},
        "args": {"type": "object", "properties": {"hotel_name": {"type": "string", "minLength": 1}}, "required": ["hotel_name"]},
    },
    "required": ["type"],
}


@tool
def book_hotel(hotel_name: str) -> str:
    """Book a stay at a hotel."""
    response = interrupt(
        f"Trying to call `book_hotel` with args {{'hotel_name': {hotel_name!r}}}. Please approve or suggest edits.",
        response_schema=REVIEW,
    )
    if response["type"] == "accept":
        pass
    elif response["type"] == "edit":
        hotel_name = response["args"]["hotel_name"]
    else:
        raise ValueError(f"Unknown response type: {response['type']}")
    BOOKINGS.append(hotel_name)
    return f"Successfully booked a stay at {hotel_name}."


class FakeHotelModel(BaseChatModel):
    """Offline stand-in for a chat model: asks for `book_hotel` with the hotel the user named,
    then repeats what the tool said."""

    @property
    def _llm_type(self) -> str:
        return "fake-hotel-model"

    def bind_tools(self, tools: Any, **kwargs: Any) -> FakeHotelModel:
        return self

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        if isinstance(messages[-1], ToolMessage):
            reply = AIMessage(content=str(messages[-1].content))
        else:
            hotel = str(messages[-1].content).partition(" at ")[2] or str(messages[-1].content)
            call = {"name": "book_hotel", "args": {"hotel_name": hotel.strip()}, "id": "call_book", "type": "tool_call"}
            reply = AIMessage(content="", tool_calls=[call])
        return ChatResult(generations=[ChatGeneration(message=reply)])


graph = create_react_agent(model=FakeHotelModel(), tools=[book_hotel], name="hotel_booking")
