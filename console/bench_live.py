"""`manage.py bench_live`: how long a recorded span takes to appear on an open run page.

The agent registered here (`bench_live`, benchmark only) runs ten nodes in a line; each waits
`step_ms` and then makes one scripted model call, so spans are recorded one step at a time
while a page watches. The command serves the console in a child process
(`manage.py serve_embedded`, on this command's database and settings), opens the run page in
Debian's chromium, and notes, in the page, when each span row (`#span-<seq>`) is added to the
DOM. The latency of a span is that moment minus the moment the recorder finished the span
(`started_at + latency_ms`): it covers the checkpoint transaction, the live event, the
websocket consumer's database read and render, and htmx's swap. Both clocks are this
machine's wall clock.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, MessagesState, StateGraph
from pydantic import BaseModel, Field

from agents.llm import ScriptedChatModel
from agents.registry import register_agent

__all__ = ["BENCH_LIVE", "BenchLiveInput", "build"]

BENCH_LIVE = "bench_live"

NODES = 10


class BenchLiveInput(BaseModel):
    step_ms: int = Field(default=150, ge=0, le=5000, description="How long each node waits before its model call")


def _script(messages: Sequence[BaseMessage]) -> AIMessage:
    return AIMessage(content=f"step {sum(1 for m in messages if isinstance(m, AIMessage)) + 1} done")


_MODEL = ScriptedChatModel(script=_script, model_name="scripted-demo")


def _node(name: str) -> Any:
    def node(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        wait_ms = int(config.get("configurable", {}).get("bench_step_ms") or state_step_ms(state))
        time.sleep(wait_ms / 1000)
        return {"messages": [_MODEL.invoke(state["messages"], config)]}

    node.__name__ = name
    return node


def state_step_ms(state: MessagesState) -> int:
    first = state["messages"][0] if state["messages"] else None
    try:
        return int(str(getattr(first, "content", "150")).split("=", 1)[1])
    except (IndexError, ValueError):
        return 150


def _initial_state(data: BaseModel) -> dict[str, Any]:
    return {"messages": [HumanMessage(content=f"step_ms={getattr(data, 'step_ms', 150)}")]}


@register_agent(
    BENCH_LIVE,
    input_schema=BenchLiveInput,
    name="Bench: live updates",
    initial_state=_initial_state,
    description="Benchmark only (manage.py bench_live): ten slow nodes, one scripted model call each.",
)
def build() -> StateGraph:
    graph = StateGraph(MessagesState)
    names = [f"n{i:02d}" for i in range(1, NODES + 1)]
    for name in names:
        graph.add_node(name, _node(name))
    graph.add_edge(START, names[0])
    for before, after in zip(names, names[1:], strict=False):
        graph.add_edge(before, after)
    graph.add_edge(names[-1], END)
    return graph
