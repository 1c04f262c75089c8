"""The LangGraph SDK streaming figures for the benchmark (`manage.py bench_sdk_stream`).

`measure_streams(url, key, runs)` streams `runs` runs of the `bench_sdk_stream` agent with
`langgraph_sdk`'s sync client and returns, in milliseconds (p50, p95, max):

- `first_event`: from the `runs.stream` call to the first part the worker produced (the first
  one after the `metadata` part the web process sends itself): the request, the run's row, the
  broker, the worker's claim, the graph's first step and checkpoint, the buffer (Redis), the relay;
- `first_token`: from the call to the first model token (`messages` part);
- `metadata`: from the call to the `metadata` part (the web process's share: the run's row written).

`serve_and_measure` starts what it measures, as production runs it: daphne and one Celery worker,
each a child process on this process's settings (DATABASE_URL, CELERY_BROKER_URL, ...).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langgraph.graph import END, START, MessagesState, StateGraph
from pydantic import BaseModel

from agents.engine.registry import register_agent
from console.harness.bench_processes import Daphne, Worker, force_debug_off
from console.kernel.statistics import percentile

__all__ = ["BENCH_SDK_STREAM", "measure_streams", "serve_and_measure", "summary"]

BENCH_SDK_STREAM = "bench_sdk_stream"
WARM_UP = 3  # runs left out of the figures: imports, compiled graphs, connections


class _TokensModel(BaseChatModel):
    """Streams a five-token reply with no delay: what is timed is Steward, not a model."""

    @property
    def _llm_type(self) -> str:
        return "bench-tokens"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="a b c d e"))])

    def _stream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> Iterator[ChatGenerationChunk]:
        for token in ["a", " b", " c", " d", " e"]:
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=token))
            if run_manager is not None:
                run_manager.on_llm_new_token(token, chunk=chunk)
            yield chunk


_MODEL = _TokensModel()


class BenchStreamInput(BaseModel):
    messages: list[dict[str, Any]] = [{"role": "user", "content": "bench"}]


@register_agent(
    BENCH_SDK_STREAM, input_schema=BenchStreamInput, description="Benchmark only: one model call, streamed"
)
def build() -> StateGraph:
    def call_model(state: MessagesState) -> dict[str, Any]:
        return {"messages": [_MODEL.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("call_model", call_model)
    graph.add_edge(START, "call_model")
    graph.add_edge("call_model", END)
    return graph


def measure_streams(url: str, key: str, runs: int) -> dict[str, list[float]]:
    """Stream `runs` runs (after WARM_UP more) and time each one's first worker part and token."""
    from langgraph_sdk import get_sync_client

    client = get_sync_client(url=url, api_key=key)
    first_event: list[float] = []
    first_token: list[float] = []
    metadata: list[float] = []
    for index in range(runs + WARM_UP):
        event_ms = token_ms = metadata_ms = None
        started = time.perf_counter()
        for part in client.runs.stream(
            None, BENCH_SDK_STREAM, input={}, stream_mode=["values", "messages-tuple"]
        ):
            elapsed = (time.perf_counter() - started) * 1000
            if part.event == "metadata":
                metadata_ms = elapsed
            if part.event not in ("metadata", "end") and event_ms is None:
                event_ms = elapsed
            if part.event == "messages" and token_ms is None:
                token_ms = elapsed
        if index >= WARM_UP and event_ms is not None and token_ms is not None and metadata_ms is not None:
            first_event.append(event_ms)
            first_token.append(token_ms)
            metadata.append(metadata_ms)
    return {"first_event": first_event, "first_token": first_token, "metadata": metadata}


def summary(figures: dict[str, list[float]]) -> dict[str, float]:
    """`<name>_p50_ms`, `<name>_p95_ms`, `<name>_max_ms` of each list of figures."""
    out: dict[str, float] = {}
    for name, values in figures.items():
        if values:
            out[f"{name}_p50_ms"] = round(percentile(values, 0.5) or 0.0, 1)
            out[f"{name}_p95_ms"] = round(percentile(values, 0.95) or 0.0, 1)
            out[f"{name}_max_ms"] = round(max(values), 1)
    return out


def serve_and_measure(key: str, runs: int) -> dict[str, list[float]]:
    """Daphne and one Celery worker as `manage.py bench` starts them (bench_processes: production
    settings, DEBUG off), this module's agent registered in both, then `measure_streams`."""
    env = force_debug_off()
    env["STEWARD_AGENT_MODULES"] = ",".join([*env["STEWARD_AGENT_MODULES"].split(","), __name__])
    with Daphne(env) as web, Worker(env) as worker:
        web.wait_ready()
        worker.wait_ready()
        return measure_streams(f"{web.base}/langgraph", key, runs)
