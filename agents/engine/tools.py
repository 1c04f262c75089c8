"""Running a model's tool calls inside a node, one ToolMessage each."""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, ToolException

from agents.engine.reliability import invoke_tool
from traces.recording.cassette import current

__all__ = ["ToolCallIds", "current_tool_call_id", "run_tool_calls"]

# Set around each tool, so a gated tool (approvals/gate.py) knows its call id.
current_tool_call_id: contextvars.ContextVar[str] = contextvars.ContextVar("steward_tool_call_id", default="")


class ToolCallIds(BaseCallbackHandler):
    """Sets `current_tool_call_id` for tools Steward does not call itself: LangGraph's ToolNode
    (create_react_agent, create_agent) runs them. LangChain calls `on_tool_start` with the call's
    id in the context the tool then runs in (a copy made after it), so the tool sees the id."""

    # In the tool's own context, never in an executor thread.
    run_inline = True

    def __init__(self) -> None:
        self._tokens: dict[uuid.UUID, contextvars.Token[str]] = {}

    def on_tool_start(
        self, serialized: dict[str, Any] | None, input_str: str, *, run_id: uuid.UUID, **kwargs: Any
    ) -> None:
        tool_call_id = kwargs.get("tool_call_id")
        if tool_call_id:
            self._tokens[run_id] = current_tool_call_id.set(str(tool_call_id))

    def on_tool_end(self, output: Any, *, run_id: uuid.UUID, **kwargs: Any) -> None:
        self._forget(run_id)

    def on_tool_error(self, error: BaseException, *, run_id: uuid.UUID, **kwargs: Any) -> None:
        self._forget(run_id)

    def _forget(self, run_id: uuid.UUID) -> None:
        token = self._tokens.pop(run_id, None)
        if token is not None:
            try:
                current_tool_call_id.reset(token)
            except ValueError:  # ended in another context than it started: that context goes away
                pass


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

    # In a covered step of a replay every tool call plays back the original's result
    # (traces/recording/cassette.py intercepts BaseTool.run): none runs, so no side effect
    # (and no gate) happens again; a recorded failure is retried where the original retried.
    replaying = current() is not None
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
