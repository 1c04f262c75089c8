"""Pieces the demo agents share: the request message, the scripts' helpers and the model/tool loop."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, MessagesState, StateGraph
from pydantic import BaseModel

from agents import prompts
from agents.engine.llm import chat_model_for
from agents.engine.registry import register_agent
from agents.engine.tools import run_tool_calls

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


def request_state(data: BaseModel) -> dict[str, Any]:
    """The state a demo run starts from: the request as the conversation's first message."""
    return {"messages": [request_message(data.model_dump())]}


def register_tool_loop_agent(
    key: str,
    *,
    name: str,
    description: str,
    input_schema: type[BaseModel],
    example_input: dict[str, Any],
    tools: list[Any],
    script: Callable[[Sequence[BaseMessage]], AIMessage],
    instructions: str,
) -> Callable[[], StateGraph]:
    """Declare and register a demo agent whose model calls its tools until it answers: nodes
    `agent` (its prompt `<key>_system`, whose system message is `instructions`, then the model)
    and `tools`, no gate. Returns the graph's builder."""
    prompt_name = f"{key}_system"

    def agent_node(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        template, messages = with_prompt(prompt_name, state["messages"], config)
        model = chat_model_for(key, script, tools, prompt=template)
        return {"messages": [model.invoke(messages, config)]}

    def tools_node(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        return {"messages": run_tool_calls(tools, last_ai_message(state["messages"]), config)}

    def build() -> StateGraph:
        graph = StateGraph(MessagesState)
        graph.add_node("agent", agent_node)
        graph.add_node("tools", tools_node)
        graph.add_edge(START, "agent")
        graph.add_conditional_edges("agent", last_ai_has_tool_calls, ["tools", END])
        graph.add_edge("tools", "agent")
        return graph

    prompts.declare(
        prompt_name,
        [{"role": "system", "content": instructions}, {"role": "placeholder", "name": "history"}],
        description=f"System prompt of the {key} demo agent",
        model_settings={"model": "scripted-demo", "temperature": 0},
    )
    return register_agent(
        key,
        prompts=[prompt_name],
        input_schema=input_schema,
        name=name,
        description=description,
        initial_state=request_state,
        output=final_answer,
        example_input=example_input,
    )(build)
