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
from typing import Any

from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import MessagesState, StateGraph
from pydantic import BaseModel, Field

from agents.engine.llm import ScriptedChatModel
from agents.engine.registry import register_agent
from console.harness.bench_graphs import linear_graph, step_script

__all__ = ["BENCH_LIVE", "BenchLiveInput", "build"]

BENCH_LIVE = "bench_live"



class BenchLiveState(MessagesState):
    step_ms: int


class BenchLiveInput(BaseModel):
    step_ms: int = Field(default=150, ge=0, le=5000, description="How long each node waits before its model call")


_MODEL = ScriptedChatModel(script=step_script, model_name="scripted-demo")


def _slow_node(name: str) -> Any:
    def node(state: BenchLiveState, config: RunnableConfig) -> dict[str, Any]:
        time.sleep(state["step_ms"] / 1000)
        return {"messages": [_MODEL.invoke(state["messages"], config)]}

    node.__name__ = name
    return node


def _initial_state(data: BaseModel) -> dict[str, Any]:
    step_ms = int(getattr(data, "step_ms", 150))
    return {"messages": [HumanMessage(content=f"bench_live, {step_ms} ms a step")], "step_ms": step_ms}


@register_agent(
    BENCH_LIVE,
    input_schema=BenchLiveInput,
    name="Bench: live updates",
    initial_state=_initial_state,
    description="Benchmark only (manage.py bench_live): ten slow nodes, one scripted model call each.",
)
def build() -> StateGraph:
    return linear_graph(BenchLiveState, _slow_node)
