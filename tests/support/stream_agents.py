"""Agents for the LangGraph SDK streaming tests, written the LangGraph docs way (no Steward import).

- `build_chat`: one node calls a chat model that streams its reply a token at a time, waiting
  `TOKEN_DELAY` seconds between tokens (a provider answering as it thinks), and reports progress
  through `get_stream_writer()` (the "custom" stream mode); the message "fail" makes it raise.
- `build_async_chat`: the same model called from an `async def` node.
- `build_nested`: a parent graph whose node is a compiled subgraph (subgraph events).
- `build_ask`: asks the user with `interrupt()`, then the model streams an answer using it.
- `build_bulk_report`: streams a long report through `get_stream_writer()`, `REPORT_PARTS` parts
  of `REPORT_PART_BYTES` each (what a slow client must not pile up in the web process).

Registered for tests in tests/support/graphs.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import interrupt

TOKEN_DELAY = 0.05  # seconds between two tokens


class SlowTokensModel(BaseChatModel):
    """A fake provider that streams "echo: <last message>" word by word, slowly."""

    @property
    def _llm_type(self) -> str:
        return "slow-tokens-fake"

    def _reply(self, messages: list[BaseMessage]) -> list[str]:
        words = f"echo: {messages[-1].content}".split(" ")
        return [w if i == 0 else " " + w for i, w in enumerate(words)]

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        return ChatResult(
            generations=[ChatGeneration(message=AIMessage(content="".join(self._reply(messages))))]
        )

    def _stream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        for i, token in enumerate(self._reply(messages)):
            if i:
                time.sleep(TOKEN_DELAY)
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=token))
            if run_manager is not None:
                run_manager.on_llm_new_token(token, chunk=chunk)
            yield chunk


model = SlowTokensModel()


def call_model(state: MessagesState) -> dict[str, Any]:
    if state["messages"][-1].content == "fail":
        raise RuntimeError("the model is down")
    writer = get_stream_writer()
    writer({"progress": "calling the model"})
    reply = model.invoke(state["messages"])
    writer({"progress": "done"})
    return {"messages": [reply]}


def build_chat() -> StateGraph:
    graph = StateGraph(MessagesState)
    graph.add_node("call_model", call_model)
    graph.add_edge(START, "call_model")
    graph.add_edge("call_model", END)
    return graph


async def call_model_async(state: MessagesState) -> dict[str, Any]:
    get_stream_writer()({"progress": "calling the model"})
    return {"messages": [await model.ainvoke(state["messages"])]}


def build_async_chat() -> StateGraph:
    graph = StateGraph(MessagesState)
    graph.add_node("call_model", call_model_async)
    graph.add_edge(START, "call_model")
    graph.add_edge("call_model", END)
    return graph


class Nested(TypedDict):
    log: list[str]


def inner_step(state: Nested) -> dict[str, Any]:
    return {"log": [*state["log"], "inner"]}


def build_nested() -> StateGraph:
    inner = StateGraph(Nested)
    inner.add_node("inner_step", inner_step)
    inner.add_edge(START, "inner_step")
    inner.add_edge("inner_step", END)
    outer = StateGraph(Nested)
    outer.add_node("child", inner.compile())
    outer.add_edge(START, "child")
    outer.add_edge("child", END)
    return outer


def ask(state: MessagesState) -> dict[str, Any]:
    answer = interrupt("Which order?")
    return {"messages": [("user", str(answer))]}


def build_ask() -> StateGraph:
    graph = StateGraph(MessagesState)
    graph.add_node("ask", ask)
    graph.add_node("call_model", call_model)
    graph.add_edge(START, "ask")
    graph.add_edge("ask", "call_model")
    graph.add_edge("call_model", END)
    return graph


REPORT_PARTS = 4000
REPORT_PART_BYTES = 8000


def write_report(state: MessagesState) -> dict[str, Any]:
    writer = get_stream_writer()
    for n in range(REPORT_PARTS):
        writer({"section": n, "text": "x" * REPORT_PART_BYTES})
    return {"messages": [("assistant", f"report of {REPORT_PARTS} sections written")]}


def build_bulk_report() -> StateGraph:
    graph = StateGraph(MessagesState)
    graph.add_node("write_report", write_report)
    graph.add_edge(START, "write_report")
    graph.add_edge("write_report", END)
    return graph
