"""The graphs, agents and measurements behind `manage.py bench`.

Two agents are registered here, for benchmarking only (their Agent rows, runs, spans,
approvals and checkpoints are deleted when the bench ends):

- `bench_linear`: ten nodes in a line, each making one ScriptedChatModel call, so a run
  records 10 node spans and 10 model spans;
- `bench_gate`: a gate node (`require_approval`, queue "default", no condition) followed by one
  node with a model call, for the approval round trip.

The same graph is timed two ways: on stock LangGraph (`langgraph.checkpoint.postgres.PostgresSaver`,
default serde, its own pool, no callbacks, durability "sync") in this process, and through
Steward's production path (`start_run` here, executed by a separate worker process: the Run row,
the message, the claim, every span, the live events).
"""

from __future__ import annotations

import gc
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from django.db import transaction
from django.db.models import Count, Max, Q
from django.utils import timezone
from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, Field

from agents.engine.checkpointer import checkpointer, postgres_dsn
from agents.engine.llm import ScriptedChatModel
from agents.engine.models import Agent, Run
from agents.engine.registry import get_agent, register_agent
from agents.engine.services import start_run
from approvals.gate import require_approval
from console.harness.bench_graphs import NODES, linear_graph, step_script
from traces.recording.models import Span

__all__ = [
    "BENCH_GATE",
    "BENCH_KEYS",
    "BENCH_LINEAR",
    "NODES",
    "BenchError",
    "build_linear",
    "cleanup",
    "ensure_bench_agents",
    "linear_span_counts_ok",
    "steward_batch",
    "stock_batch",
    "stock_pool",
    "wait_finished",
]

BENCH_LINEAR = "bench_linear"
BENCH_GATE = "bench_gate"
BENCH_KEYS = (BENCH_LINEAR, BENCH_GATE)
# Bare runs have no Run row: their threads are named so they can be told apart and deleted.
BARE_THREAD_PREFIX = "bench-bare-"


class BenchError(RuntimeError):
    """A benchmark run did not do what it should: the figures would be meaningless."""


class BenchInput(BaseModel):
    prompt: str = Field(default="benchmark", max_length=200)


# One instance for every node: the model is stateless, and building a pydantic model per call
# would add the same constant to (a) and (b) without telling us anything about Steward.
_MODEL = ScriptedChatModel(script=step_script, model_name="scripted-demo")


class _ModelNode(Protocol):
    # A protocol, not a Callable: LangGraph passes `config` by name.
    def __call__(self, state: MessagesState, config: RunnableConfig) -> dict[str, Any]: ...


def _model_node(name: str) -> _ModelNode:
    def node(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        return {"messages": [_MODEL.invoke(state["messages"], config)]}

    node.__name__ = name
    return node


def _initial_state(data: BaseModel) -> dict[str, Any]:
    return {"messages": [HumanMessage(content=str(getattr(data, "prompt", "benchmark")))]}


@register_agent(
    BENCH_LINEAR,
    input_schema=BenchInput,
    name="Bench: linear",
    initial_state=_initial_state,
    description="Benchmark only (manage.py bench): ten nodes in a line, one scripted model call each.",
)
def build_linear() -> StateGraph:
    """n01 → n02 → … → n10, each node one ScriptedChatModel call."""
    return linear_graph(MessagesState, _model_node)


def _gate_node(state: MessagesState) -> dict[str, Any]:
    # Nothing before the gate: on resume this node runs again from its first line.
    decision = require_approval(
        queue="default", action="bench_action", args={"n": 1}, summary="manage.py bench: approve to continue"
    )
    return {"messages": [HumanMessage(content=f"reviewer said {decision['decision']}")]}


@register_agent(
    BENCH_GATE,
    input_schema=BenchInput,
    name="Bench: gate",
    initial_state=_initial_state,
    description="Benchmark only (manage.py bench): a gate, then one scripted model call.",
)
def build_gate() -> StateGraph:
    """gate (require_approval, queue default) → act (one ScriptedChatModel call)."""
    graph = StateGraph(MessagesState)
    graph.add_node("gate", _gate_node)
    graph.add_node("act", _model_node("act"))
    graph.add_edge(START, "gate")
    graph.add_edge("gate", "act")
    graph.add_edge("act", END)
    return graph


# --- statistics ---------------------------------------------------------------------------------




# --- setup and cleanup ---------------------------------------------------------------------------


def ensure_bench_agents() -> None:
    """Agent rows for the two bench agents only (sync_agents would touch every agent's row)."""

    for key in BENCH_KEYS:
        spec = get_agent(key)
        assert spec is not None  # registered at import of this module
        Agent.objects.update_or_create(
            key=key,
            defaults={
                "name": spec.name,
                "description": spec.description,
                "input_schema": spec.input_schema.model_json_schema(),
                "fingerprint": spec.fingerprint(),
                "is_registered": True,
            },
        )


def cleanup(bare_threads: Iterable[str] = ()) -> dict[str, int]:
    """Delete every bench run (with its spans, approvals, decisions and checkpoints), the bench
    Agent rows and the given bare threads' checkpoints. The audit log is append-only (on
    Postgres the database refuses deletes), so the bench's decisions stay in it.

    Runs are found by agent, not by this invocation's ids, so a bench that crashed earlier is
    cleaned up too.
    """

    runs = Run.objects.filter(agent__key__in=BENCH_KEYS)
    threads = list(runs.values_list("thread_id", flat=True))
    with transaction.atomic():
        # Spans, approval requests and their decisions go with the runs (on_delete=CASCADE).
        _, deleted = runs.delete()
        Agent.objects.filter(key__in=BENCH_KEYS).delete()
    all_threads = [*threads, *bare_threads]
    with checkpointer() as saver:
        for thread_id in all_threads:
            saver.delete_thread(thread_id)
    return {
        "runs": deleted.get("agents.Run", 0),
        "spans": deleted.get("traces.Span", 0),
        "approval requests": deleted.get("approvals.ApprovalRequest", 0),
        "checkpoint threads": len(all_threads),
    }


# --- the stock baseline and Steward ------------------------------------------------------------


def stock_pool() -> ConnectionPool[Any]:
    """The stock saver's own pool, as LangGraph's docs set one up (autocommit, prepared statements,
    dict rows), on the bench's database."""
    return ConnectionPool(
        postgres_dsn(),
        min_size=1,
        max_size=2,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        open=True,
        name="bench-stock",
    )


def stock_batch(pool: ConnectionPool[Any], runs: int) -> tuple[float, list[str]]:
    """`runs` runs of the 10-node graph on stock LangGraph in this thread: `PostgresSaver` (default
    serde, no encryption) on its own pool, durability "sync", no callbacks; (seconds, thread ids).

    One saver and one compiled graph per batch, as a LangGraph user would write it."""
    threads = [f"{BARE_THREAD_PREFIX}{uuid.uuid4()}" for _ in range(runs)]
    gc.collect()
    start = time.perf_counter()
    saver = PostgresSaver(pool)
    # Typed by hand: mypy leaves compile()'s input and output types (defaulting to the state's) unsolved.
    graph: CompiledStateGraph[Any, None, Any, Any] = build_linear().compile(checkpointer=saver)
    for thread_id in threads:
        result = graph.invoke(
            {"messages": [HumanMessage(content="benchmark")]},
            {"configurable": {"thread_id": thread_id}},
            durability="sync",
        )
        if len(result["messages"]) != NODES + 1:
            raise BenchError(f"stock run {thread_id} ended with {len(result['messages'])} messages")
    return time.perf_counter() - start, threads


def wait_finished(ids: Sequence[uuid.UUID], started: datetime, timeout: float) -> float:
    """Wait until every run in `ids` has succeeded; seconds from `started` (wall clock) to the
    last one's `finished_at`, as the worker stamped it (so the poll's interval costs nothing)."""
    deadline = time.monotonic() + timeout
    while True:
        counts = Run.objects.filter(id__in=ids).aggregate(
            done=Count("id", filter=Q(status=Run.Status.SUCCEEDED)),
            stopped=Count("id", filter=Q(status__in=(Run.Status.FAILED, Run.Status.CANCELLED, Run.Status.WAITING))),
            last=Max("finished_at"),
        )
        if counts["stopped"]:
            bad = Run.objects.filter(id__in=ids).exclude(status__in=(Run.Status.SUCCEEDED, Run.Status.QUEUED, Run.Status.RUNNING)).first()
            raise BenchError(f"run {bad.id if bad else '?'} ended {bad.status if bad else '?'}: {bad.error if bad else ''}")
        if counts["done"] == len(ids):
            return float((counts["last"] - started).total_seconds())
        if time.monotonic() > deadline:
            raise BenchError(f"{len(ids) - counts['done']} of {len(ids)} runs not finished after {timeout:.0f} s")
        time.sleep(0.02)


def steward_batch(runs: int, user: Any) -> tuple[float, list[uuid.UUID]]:
    """`runs` runs through Steward's production path: started here with `start_run` (the service
    `POST /api/runs` calls: Run row, Celery message on commit, live event), executed by the
    separate worker process the command started; (seconds from the first start to the last
    run's finish, run ids)."""
    ids: list[uuid.UUID] = []
    gc.collect()
    started = timezone.now()
    for _ in range(runs):
        ids.append(start_run(BENCH_LINEAR, {"prompt": "benchmark"}, user, metadata={"bench": True}).id)
    return wait_finished(ids, started, timeout=60 + 2 * runs), ids


def linear_span_counts_ok(run_ids: Sequence[uuid.UUID]) -> bool:
    """Every timed Steward run recorded exactly its 10 node spans and 10 model spans."""


    rows = (
        Span.objects.filter(run_id__in=run_ids)
        .values("run_id")
        .annotate(nodes=Count("id", filter=Q(kind="node")), models=Count("id", filter=Q(kind="model")))
    )
    counted = {r["run_id"]: (r["nodes"], r["models"]) for r in rows}
    return len(counted) == len(run_ids) and all(v == (NODES, NODES) for v in counted.values())


