"""Running a model's tool calls inside a node, one ToolMessage each."""

from __future__ import annotations

import contextvars
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, ToolException

from agents.engine.reliability import invoke_tool
from traces.recording.cassette import current, recorded_tools

__all__ = ["current_tool_call_id", "run_tool_calls"]

# Set around each tool, so a gated tool (approvals/gate.py) knows its call id.
current_tool_call_id: contextvars.ContextVar[str] = contextvars.ContextVar("steward_tool_call_id", default="")


def run_tool_calls(
    tools: Sequence[BaseTool], message: AIMessage, config: RunnableConfig | None = None
) -> list[ToolMessage]:
    """Call each tool the message asks for, in order.

    A tool's exception is not caught (after its retries, for a `retry_safe` tool with a
    transient error): the node fails and the run records the error, so an engineer sees it
    and can replay. A `ToolException` is the tool refusing the call (e.g. the ledger's
    `ArgumentsChanged`): the agent gets it as an error ToolMessage and decides what to say, and
    the tool's span records the error. Put a gated tool in a node of its own or call it alone:
    a node runs again from its start when the run resumes after approval.
    """

    replaying = current() is not None
    if replaying:
        # A recorded step of a replay: tools play back the original's results; none runs,
        # so no side effect (and no gate) happens again.
        tools = recorded_tools(tools)
    by_name = {tool.name: tool for tool in tools}
    results: list[ToolMessage] = []
    for call in message.tool_calls:
        tool = by_name.get(call["name"])
        if tool is None:
            results.append(
                ToolMessage(content=f"error: unknown tool {call['name']!r}", tool_call_id=call["id"] or "")
            )
            continue
        token = current_tool_call_id.set(call["id"] or "")
        try:
            # Retried on a transient error if the tool is marked retry_safe (agents/engine/reliability.py).
            output: Any = invoke_tool(tool, call, config, replaying=replaying)
        except ToolException as refused:
            output = ToolMessage(
                content=f"error: {refused}", tool_call_id=call["id"] or "", name=call["name"], status="error"
            )
        finally:
            current_tool_call_id.reset(token)
        results.append(
            output
            if isinstance(output, ToolMessage)
            else ToolMessage(content=str(output), tool_call_id=call["id"] or "", name=call["name"])
        )
    return results
