"""Pieces the demo agents share: the request message and the model/tool loop."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

REQUEST_PREFIX = "Request: "


def request_message(data: dict[str, Any]) -> HumanMessage:
    return HumanMessage(content=REQUEST_PREFIX + json.dumps(data, sort_keys=True))


def request_of(messages: Sequence[BaseMessage]) -> dict[str, Any]:
    """The structured request the conversation started with (scripts read it, not counters)."""
    for message in messages:
        if isinstance(message, HumanMessage) and str(message.content).startswith(REQUEST_PREFIX):
            return json.loads(str(message.content)[len(REQUEST_PREFIX) :])
    return {}


def tool_results(messages: Sequence[BaseMessage]) -> dict[str, str]:
    """Tool name → content of its latest result so far."""
    return {m.name or "": str(m.content) for m in messages if isinstance(m, ToolMessage)}


def call(name: str, args: dict[str, Any], call_id: str) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id, "type": "tool_call"}])


def last_ai_has_tool_calls(state: Mapping[str, Any]) -> str:
    last = state["messages"][-1]
    return "tools" if isinstance(last, AIMessage) and last.tool_calls else "__end__"


def last_ai_message(messages: Sequence[BaseMessage]) -> AIMessage:
    """The model's message a tool node answers: the edges route here only after one with tool calls."""
    last = messages[-1]
    if not isinstance(last, AIMessage):
        raise TypeError(f"a tool node runs after the model's message, not after a {type(last).__name__}")
    return last


def final_answer(state: dict[str, Any]) -> dict[str, Any]:
    return {"answer": str(state["messages"][-1].content)}


SHOP_NAME = "Steward Shop"


def with_prompt(name: str, history: Sequence[BaseMessage], config: Any) -> tuple[Any, list[BaseMessage]]:
    """The agent's prompt (the version pinned for this run) rendered before the conversation."""
    from agents import prompts

    template = prompts.get(name)
    rendered = template.invoke({"shop_name": SHOP_NAME, "history": list(history)}, config).to_messages()
    return template, rendered


def sign_off(messages: Sequence[BaseMessage], text: str) -> str:
    """The scripted model follows one instruction of its prompt: a `Sign-off:` line, if present."""
    for message in messages:
        if isinstance(message, SystemMessage):
            for line in str(message.content).splitlines():
                if line.lower().startswith("sign-off:") and line.split(":", 1)[1].strip():
                    return f"{text}\n\n{line.split(':', 1)[1].strip()}"
    return text
