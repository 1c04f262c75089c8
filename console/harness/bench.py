"""The graphs, agents and measurements behind `manage.py bench`.

Two agents are registered here, for benchmarking only (their Agent rows, runs, spans,
approvals and checkpoints are deleted when the bench ends):

- `bench_linear`: ten nodes in a line, each making one ScriptedChatModel call, so a run
  records 10 node spans and 10 model spans;
- `bench_gate`: a gate node (`require_approval`, queue "default", no condition) followed by one
  node with a model call, for the approval round trip.

The same graph is timed two ways: on bare LangGraph (the same checkpointer class, no hook, no
callbacks, durability "sync") and through Steward's production path (`start_run`, then
`runtime.execute` in this thread: the Run row, the claim, every span, the live events).
"""

from __future__ import annotations

import gc
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone
from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from pydantic import BaseModel, Field

from agents.engine import runtime
from agents.engine.checkpointer import checkpointer
from agents.engine.llm import ScriptedChatModel
from agents.engine.models import Agent, Run
from agents.engine.registry import get_agent, register_agent
from agents.engine.services import start_run
from approvals.gate import require_approval
from approvals.models import ApprovalRequest
from approvals.services import decide
from console.harness.bench_graphs import NODES, linear_graph, step_script
from traces.recording.models import Span

__all__ = [
    "BENCH_GATE",
    "BENCH_KEYS",
    "BENCH_LINEAR",
    "NODES",
    "BenchError",
    "Roundtrip",
    "approval_roundtrips",
    "bare_batch",
    "build_linear",
    "cleanup",
    "ensure_bench_agents",
    "linear_span_counts_ok",
    "steward_batch",
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


# --- (a) bare LangGraph and (b) Steward ----------------------------------------------------------


def bare_batch(runs: int) -> tuple[float, list[str]]:
    """`runs` runs on bare LangGraph; returns (seconds, thread ids).

    One saver and one compiled graph per batch, as a LangGraph user would write it; Steward's
    per-run saver checkout, compile and state reads are part of what (b) measures.
    """
    threads = [f"{BARE_THREAD_PREFIX}{uuid.uuid4()}" for _ in range(runs)]
    gc.collect()
    start = time.perf_counter()
    with checkpointer() as saver:
        # Typed by hand: mypy leaves compile()'s input and output types (defaulting to the state's) unsolved.
        graph: CompiledStateGraph[Any, None, Any, Any] = build_linear().compile(checkpointer=saver)
        for thread_id in threads:
            result = graph.invoke(
                {"messages": [HumanMessage(content="benchmark")]},
                {"configurable": {"thread_id": thread_id}},
                durability="sync",
            )
            if len(result["messages"]) != NODES + 1:
                raise BenchError(f"bare run {thread_id} ended with {len(result['messages'])} messages")
    return time.perf_counter() - start, threads


def steward_batch(runs: int, user: Any) -> tuple[float, list[uuid.UUID]]:
    """`runs` runs through Steward's production path, in this thread; returns (seconds, run ids).

    start_run writes the Run row and, on commit, sends its Celery message and live event; then
    this thread does what a worker does with the message. No worker may be consuming (the
    command checks), or it would race us for the claim.
    """

    ids: list[uuid.UUID] = []
    gc.collect()
    start = time.perf_counter()
    for _ in range(runs):
        run = start_run(BENCH_LINEAR, {"prompt": "benchmark"}, user, metadata={"bench": True})
        status = runtime.execute(run.id)
        if status != "succeeded":
            raise BenchError(f"steward run {run.id} ended {status!r}")
        ids.append(run.id)
    return time.perf_counter() - start, ids


def linear_span_counts_ok(run_ids: Sequence[uuid.UUID]) -> bool:
    """Every timed Steward run recorded exactly its 10 node spans and 10 model spans."""


    rows = (
        Span.objects.filter(run_id__in=run_ids)
        .values("run_id")
        .annotate(nodes=Count("id", filter=Q(kind="node")), models=Count("id", filter=Q(kind="model")))
    )
    counted = {r["run_id"]: (r["nodes"], r["models"]) for r in rows}
    return len(counted) == len(run_ids) and all(v == (NODES, NODES) for v in counted.values())


# --- approval round trip -------------------------------------------------------------------------


@dataclass(frozen=True)
class Roundtrip:
    """One decision, in ms from just before `decide()` was called."""

    decide_ms: float  # decide() returned (its transaction committed, its on-commit hooks ran)
    node_started_ms: float  # the resumed run's first node after the gate started (worker's clock)
    node_finished_ms: float  # … and finished (started_at + latency_ms)
    visible_ms: float  # its span row was seen in the database (polled)


def _wait(predicate: Callable[[], bool], timeout: float, interval: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _span_after_gate(run_id: uuid.UUID) -> tuple[datetime, float] | None:
    # A raw query: the poll runs every 0.5 ms in the same process as the worker thread, so it
    # must hold the GIL as briefly as possible (the ORM would cost the worker more).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT started_at, latency_ms FROM traces_span WHERE run_id = %s AND kind = %s AND name = %s",
            [run_id if connection.vendor == "postgresql" else run_id.hex, "node", "act"],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    started = row[0]
    if isinstance(started, str):  # SQLite through a raw cursor: Django's naive UTC text
        started = datetime.fromisoformat(started).replace(tzinfo=UTC)
    elif timezone.is_naive(started):
        started = started.replace(tzinfo=UTC)
    return started, float(row[1])


def approval_roundtrips(count: int, warmup: int, engineer: Any, reviewer: Any) -> list[Roundtrip]:
    """Decide `warmup + count` gate runs one at a time; returns the last `count` round trips.

    A worker must be consuming (the command starts one in-process). All runs are started first
    and reach "waiting" before any decision, so each decision meets an idle worker.
    """

    total = warmup + count
    runs = [start_run(BENCH_GATE, {"prompt": "benchmark"}, engineer, metadata={"bench": True}) for _ in range(total)]
    ids = [r.id for r in runs]

    def all_waiting() -> bool:
        statuses = list(Run.objects.filter(id__in=ids).values_list("status", flat=True))
        stopped = [s for s in statuses if s not in (Run.Status.QUEUED, Run.Status.RUNNING, Run.Status.WAITING)]
        if stopped:
            # A gate run that finished or failed never waits: say so now, not after the timeout.
            raise BenchError(f"a bench gate run ended {stopped[0]!r} instead of waiting for approval")
        return statuses.count(Run.Status.WAITING) == total

    _wait(all_waiting, timeout=120 + 2 * total, interval=0.01, what=f"{total} bench runs to reach the gate")
    requests = dict(
        ApprovalRequest.objects.filter(run_id__in=ids, status=ApprovalRequest.Status.PENDING).values_list("run_id", "id")
    )
    results: list[Roundtrip] = []
    for index, run_id in enumerate(ids):
        wall0 = timezone.now()
        t0 = time.perf_counter()
        decide(requests[run_id], reviewer, "approve", comment="manage.py bench")
        t_decided = time.perf_counter()
        seen: tuple[datetime, float] | None = None
        deadline = t0 + 60
        while seen is None:
            seen = _span_after_gate(run_id)
            if seen is None:
                if time.perf_counter() > deadline:
                    raise BenchError(f"run {run_id}: no span after the gate within 60 s of the decision")
                time.sleep(0.0005)
        t_visible = time.perf_counter()
        started, latency_ms = seen
        started_ms = (started - wall0).total_seconds() * 1000
        if index >= warmup:
            results.append(
                Roundtrip(
                    decide_ms=(t_decided - t0) * 1000,
                    node_started_ms=started_ms,
                    node_finished_ms=started_ms + latency_ms,
                    visible_ms=(t_visible - t0) * 1000,
                )
            )
        # Let the run finish before the next decision, so decisions never queue behind each other.
        _wait(
            Run.objects.filter(id=run_id, status=Run.Status.SUCCEEDED).exists,
            timeout=60,
            interval=0.001,
            what=f"run {run_id} to succeed after its approval",
        )
    return results
