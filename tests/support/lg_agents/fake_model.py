"""An offline chat model for the example graphs: it asks for one tool call, then answers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult


class OneToolCallModel(BaseChatModel):
    """Calls `tool_name` with `tool_args` once; after the tool's answer, repeats it as the reply."""

    tool_name: str
    tool_args: dict[str, Any]

    @property
    def _llm_type(self) -> str:
        return "one-tool-call-fake"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> OneToolCallModel:
        return self

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, **kwargs: Any) -> ChatResult:
        last = messages[-1]
        if isinstance(last, ToolMessage):
            reply = AIMessage(content=f"done: {last.content}")
        else:
            call = {"name": self.tool_name, "args": self.tool_args, "id": "call_1", "type": "tool_call"}
            reply = AIMessage(content="", tool_calls=[call])
        return ChatResult(generations=[ChatGeneration(message=reply)])
