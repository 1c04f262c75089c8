"""The one module that drives LangGraph: claim a run, run or resume its graph, record it.

`execute(run_id)` is what a worker does with a run id. It works out what the run needs from
the run's row and its thread's checkpoint, so a first start, a resume after a decision and a
recovery after a crash are one code path:

- no checkpoint yet → start the graph with the run's input;
- pending interrupts → resume those a reviewer has decided (by interrupt id), else wait;
- a static breakpoint (interrupt_before/after) → continue once a reviewer said so, stop if they
  said stop, else wait (agents/engine/interrupts.py `static_breakpoint`);
- a checkpoint with work left (a crash) → continue from it;
- a finished checkpoint (a crash after the last step) → just record the result;
- a recorded replay (a copy of the original's thread and spans) → the original's outcome, nothing runs.

A run with limits (agents/engine/limits.py) is watched while it runs (agents/engine/limit_guard.py); over a
limit it fails, or pauses `waiting` for a reviewer, and continuing it is the crash path above.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import traceback
import uuid
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone
from langgraph.types import Command, Interrupt
from structlog.contextvars import bound_contextvars

from agents.engine.checkpointer import checkpointer
from agents.engine.checkpointer_async import async_checkpointer
from agents.engine.graph_call import GraphCall
from agents.engine.hooks import approvals
from agents.engine.interrupts import Breakpoint, static_breakpoint
from agents.engine.limit_guard import LimitGuard, run_watched
from agents.engine.limits import (
    PAUSE,
    Breach,
    LimitExceeded,
    Limits,
    agent_limits,
    record_breach,
)
from agents.engine.models import Run
from agents.engine.registry import AgentSpec, compile_agent, get_agent, is_async_graph
from agents.engine.reliability import is_transient
from agents.engine.resume_refusal import Refusal, ResumeWatch
from agents.engine.run_events import RunPublisher, adrive, drive, publisher_for
from agents.engine.signals import announce_run_stopped
from agents.engine.task_connections import TaskConnections
from agents.engine.tools import ToolCallIds
from console.kernel import live
from console.kernel.redaction import redact
from console.kernel.serialize import to_jsonable
from traces.recording import cassette
from traces.recording.models import Span
from traces.recording.recorder import SpanRecord, SpanRecorder
from traces.recording.sealed import run_input
from traces.recording.writer import insert_spans

__all__ = ["LeaseLost", "execute", "run_config", "totals_of"]

log = logging.getLogger(__name__)
# Open run pages get at most one "new spans" event per run this often; spans that arrive in
# between go out with a trailing event, so none waits longer than this.
LIVE_SPAN_INTERVAL = 0.05  # seconds


class LeaseLost(RuntimeError):
    """The run is no longer ours (cancelled, or its lease expired and another worker has it)."""


def _db_uuid(vendor: str, value: uuid.UUID) -> Any:
    return value if vendor == "postgresql" else value.hex


def _db_time(vendor: str, value: datetime) -> Any:
    return value if vendor == "postgresql" else connection.ops.adapt_datetimefield_value(value)


@dataclass
class StepWriter:
    """Called by the checkpointer inside each step's transaction: renew the lease, write spans."""

    run_id: uuid.UUID
    lease_owner: str
    recorder: SpanRecorder
    lease_seconds: int
    # Seconds workers spent on the run before this execution; this execution's start.
    active_before: float = field(default=0.0)
    started: float = field(default_factory=time.monotonic)
    writes: int = field(default=0)
    _committing_spans: bool = field(default=False)
    # This execution's view of the publisher's throttle for the run (after_commit): when it last
    # sent an event at once, and when the event it holds back goes out (None: none held).
    _sent_at: float = field(default=float("-inf"))
    _trailing_due: float | None = field(default=None)
    # The claim just set a fresh lease: the first renewal is due at half its length.
    _renew_after: float = field(default=0.0)
    _checking: str = field(default="select")

    def __post_init__(self) -> None:
        self._renew_after = time.monotonic() + self.lease_seconds / 2

    def active_seconds(self) -> float:
        return round(self.active_before + (time.monotonic() - self.started), 3)

    def before_commit(
        self, cursor: Any, vendor: str, placeholder: str, checkpoint_id: str, up_to_step: int | None = None
    ) -> None:
        self._lease_and_spans(cursor, vendor, placeholder, checkpoint_id, up_to_step, failing=False)

    def before_commit_failing(self, cursor: Any, checkpoint_id: str, up_to_step: int | None = None) -> None:
        """before_commit for the pipelined Postgres saver, which queues COMMIT without reading
        the lease statement's result: that statement fails the transaction if the lease is gone,
        and `refusal` names the error. `up_to_step`: the transaction writes the spans of steps up
        to it only (SpanRecorder.drain)."""
        self._lease_and_spans(cursor, "postgresql", "%s", checkpoint_id, up_to_step, failing=True)

    def refusal(self, error: BaseException) -> BaseException | None:
        """LeaseLost for the error of a lease statement `before_commit_failing` issued."""
        if Run.LEASE_LOST in str(error):
            return LeaseLost(f"run {self.run_id} is no longer held by this worker")
        return None

    def _lease_and_spans(
        self, cursor: Any, vendor: str, placeholder: str, checkpoint_id: str, up_to_step: int | None, failing: bool
    ) -> None:
        p = placeholder
        now = timezone.now()
        run, owner = _db_uuid(vendor, self.run_id), self.lease_owner
        if time.monotonic() >= self._renew_after:
            # Renew when half the lease is gone: an UPDATE of the run row at every step would
            # cost a row version per step. The time spent so far goes with it, so a worker that
            # dies mid-run does not take its part of the run's timeout with it.
            expires = _db_time(vendor, now + timedelta(seconds=self.lease_seconds))
            Run.renew_lease_in(cursor, p, run, owner, expires, self.active_seconds(), failing=failing)
            self._renew_after = time.monotonic() + self.lease_seconds / 2
            self._checking = "update"
        else:
            Run.check_lease_in(cursor, p, run, owner, _db_time(vendor, now), failing=failing)
            self._checking = "select"
        spans = self.recorder.drain(up_to_step)
        if spans:
            # A cursor of its own: `cursor` must keep the lease statement's result for check().
            span_cursor = cursor.connection.cursor()
            try:
                insert_spans(span_cursor, vendor, p, self.run_id, spans, checkpoint_id)
            finally:
                span_cursor.close()
        # Announced only after the commit (after_commit): a page must never look before it.
        self._committing_spans = bool(spans)
        self.writes += 1

    def may_defer(self, task_id: str) -> bool:
        """Whether the task's writes may wait for the step's checkpoint, to commit with it in
        one transaction: only a step's only task (agents/engine/checkpointer.py says why)."""
        return self.recorder.finished_alone(task_id)

    def check(self, cursor: Any) -> None:
        held = cursor.rowcount == 1 if self._checking == "update" else cursor.fetchone() is not None
        if not held:
            raise LeaseLost(f"run {self.run_id} is no longer held by this worker")

    def after_commit(self) -> None:
        # At most one live event per run every LIVE_SPAN_INTERVAL (a fast run writes a step
        # every few milliseconds), held back and sent by the publisher's thread, not this one;
        # the page re-reads every span it has not shown yet.
        if not self._committing_spans:
            return
        self._committing_spans = False
        now = time.monotonic()
        if self._trailing_due is not None:
            if now < self._trailing_due:
                # The publisher holds an event for this run that goes out after now: it covers
                # this commit too. Each submission wakes the publisher's thread, which then
                # competes with this run for the GIL (about 5 ms a run when every step submitted).
                return
            # That event went out at its time (the publisher's clock is never ahead of ours).
            self._sent_at, self._trailing_due = self._trailing_due, None
        if now - self._sent_at >= LIVE_SPAN_INTERVAL:
            self._sent_at = now  # the publisher sends it at once
        else:
            self._trailing_due = self._sent_at + LIVE_SPAN_INTERVAL  # it holds it until then
        live.publish_throttled(live.run_group(self.run_id), {"kind": "spans", "run_id": str(self.run_id)}, LIVE_SPAN_INTERVAL)


def run_config(run: Run, recorder: SpanRecorder | None = None, guard: LimitGuard | None = None) -> dict[str, Any]:
    return {
        "configurable": {
            # The run's own values (the LangGraph SDK API's `config.configurable`), under Steward's.
            **GraphCall.from_metadata(run.metadata).configurable,
            "thread_id": run.thread_id,
            "steward_run_id": str(run.id),
            "steward_root_run_id": str(run.root_id),
            # A replay's mode and source: the cassette (traces/recording/cassette.py) reads it.
            "steward_replay": (run.metadata or {}).get("replay"),
            # Prompt versions pinned when the run started (agents/prompts/__init__.py reads them).
            "steward_prompt_versions": dict(run.prompt_versions or {}),
            # A replay's other model, when the engineer chose one.
            "steward_model": ((run.metadata or {}).get("replay") or {}).get("model"),
            # Static breakpoints given when the run started (agents/engine/services.py), beside
            # the graph's own: `compiled_graph` adds them.
            "steward_interrupt_before": list((run.metadata or {}).get("interrupt_before") or []),
            "steward_interrupt_after": list((run.metadata or {}).get("interrupt_after") or []),
        },
        # The guard first: a node it refuses never reaches the recorder. ToolCallIds tells a gated
        # tool run by LangGraph's ToolNode its call id.
        "callbacks": [c for c in (guard, recorder) if c is not None] + [ToolCallIds(), TaskConnections()],
        "recursion_limit": 100,
    }


def totals_of(run_id: uuid.UUID) -> dict[str, Any]:
    """The run's stored totals counted from its spans (their meanings: the Run docstring)."""
    agg = Span.objects.filter(run_id=run_id).aggregate(
        steps=Count("id", filter=Q(kind=Span.Kind.NODE)),
        span_count=Count("id"),
        tokens_in=Sum("tokens_in"),
        tokens_out=Sum("tokens_out"),
        cost=Sum("cost"),
        latency_ms=Sum("latency_ms", filter=Q(kind=Span.Kind.NODE)),
    )
    return {
        "steps": agg["steps"] or 0,
        "span_count": agg["span_count"] or 0,
        "tokens_in": agg["tokens_in"] or 0,
        "tokens_out": agg["tokens_out"] or 0,
        "cost": round(agg["cost"] or 0.0, 8),
        "latency_ms": round(agg["latency_ms"] or 0.0, 3),
    }


_compiled: dict[str, tuple[Any, Any]] = {}
_compiled_lock = threading.Lock()


def compiled_graph(spec: AgentSpec, saver: Any, config: dict[str, Any] | None = None) -> Any:
    """The agent's compiled graph bound to this execution's saver; compiled once per process
    (a langgraph.json factory taking a RunnableConfig is called with each run's `config`).

    Only the checkpointer is replaced (one the author compiled in, such as the docs'
    InMemorySaver, included): everything else compiled in stays (interrupt_before/after, store,
    cache, name, context schema), and the run's own breakpoints (`config`) join those compiled in."""
    if spec.build_for_run is not None:
        graph = compile_agent(spec, config)
    else:
        with _compiled_lock:
            cached = _compiled.get(spec.key)
            if cached is None or cached[0] is not spec.build:
                cached = (spec.build, compile_agent(spec))
                _compiled[spec.key] = cached
        graph = cached[1]
    return graph.copy(update={"checkpointer": saver, **_run_breakpoints(graph, config)})


def _run_breakpoints(graph: Any, config: dict[str, Any] | None) -> dict[str, Any]:
    configurable = (config or {}).get("configurable") or {}
    update: dict[str, Any] = {}
    for when in ("before", "after"):
        extra = list(configurable.get(f"steward_interrupt_{when}") or [])
        own = getattr(graph, f"interrupt_{when}_nodes")
        if extra and own != "*":
            update[f"interrupt_{when}_nodes"] = "*" if "*" in extra else list(dict.fromkeys([*own, *extra]))
    return update


def _totals_after(run: Run, recorder: SpanRecorder) -> dict[str, Any]:
    """The run's totals once this execution's spans are in: the stored totals (written when the
    run last stopped) plus this execution's. After a crash an earlier attempt may have committed
    spans the stored totals miss, so then the spans are counted again from the database."""
    if run.attempts > 1 or _is_copy(run):
        # A recorded replay's spans were copied, not recorded by this execution.
        return totals_of(run.id)
    added = recorder.totals
    return {
        "steps": run.steps + added["steps"],
        "span_count": run.span_count + added["spans"],
        "tokens_in": run.tokens_in + added["tokens_in"],
        "tokens_out": run.tokens_out + added["tokens_out"],
        "cost": round(run.cost + added["cost"], 8),
        "latency_ms": round(run.latency_ms + added["latency_ms"], 3),
    }


def _first_seq(run_id: uuid.UUID) -> int:
    last = Span.objects.filter(run_id=run_id).order_by("-seq").values_list("seq", flat=True).first()
    return 0 if last is None else last + 1


_WAIT = object()
_DONE = object()
# A static breakpoint's gate spans are named so (agents/engine/interrupts.py `Breakpoint`).
BREAKPOINT_SPAN = "breakpoint"
# Where invoke's output lists the interrupts it stopped at (LangGraph keeps its constant private).
INTERRUPT_KEY = "__interrupt__"
# The gate span of an answer the agent refused (agents/engine/resume_refusal.py).
REFUSED_SPAN = "answer refused"


@dataclass
class _Answered:
    """A static breakpoint a reviewer has answered: {"decision": "continue" | "stop", "comment",
    "decided_by", "approval_id"}."""

    stop: Breakpoint
    answer: dict[str, Any]

    @property
    def continues(self) -> bool:
        return self.answer.get("decision") == "continue"


def _shown_state(values: Any) -> Any:
    # What a reviewer reads at a breakpoint: the state as JSON, secrets replaced by markers.
    return redact(to_jsonable(values))


def _paused_here(run: Run, snapshot: Any) -> Breakpoint | None:
    """The breakpoint this run last stopped at, if it is the snapshot's checkpoint."""
    paused = (run.metadata or {}).get("breakpoint") or {}
    if paused.get("checkpoint_id") and paused["checkpoint_id"] == snapshot.config["configurable"].get("checkpoint_id"):
        return Breakpoint(str(paused.get("when") or "before"), list(paused.get("nodes") or []), paused["checkpoint_id"], paused.get("step"))
    return None


def _breakpoint_in(graph: Any, snapshot: Any, run: Run) -> Breakpoint | None:
    stop = static_breakpoint(graph, snapshot) or _paused_here(run, snapshot)
    if stop is not None:
        stop.state = _shown_state(snapshot.values)
    return stop


def _is_fresh(run: Run, claimed_at: datetime) -> bool:
    """The run's first claim, on a thread of its own that nobody has written: no checkpoint and
    no span can exist yet, so neither needs reading. (A replay's thread is a copy, made before
    its first claim; any later claim, after a crash or a decision, reads both.)"""
    return (
        run.attempts == 1
        and run.started_at == claimed_at
        and run.thread_id == str(run.id)
        and not (run.metadata or {}).get("replay")
    )


def _initial_input(run: Run, spec: AgentSpec) -> Any:
    # A run started with Command(update=..., goto=...) starts from it, as LangGraph's invoke does.
    command = GraphCall.from_metadata(run.metadata).start_command()
    if command is not None:
        return command
    # Run.input is stored redacted: the graph starts from the input as submitted.
    return spec.initial_state(spec.input_schema.model_validate(run_input(run)))


def _next_input(graph: Any, config: dict[str, Any], run: Run, spec: AgentSpec, fresh: bool = False) -> Any:
    if fresh:
        return _initial_input(run, spec)
    snapshot = graph.get_state(config)
    if snapshot.created_at is None or _new_turn(run, snapshot):
        return _initial_input(run, spec)
    if snapshot.interrupts:
        decided = approvals().decided_resume_values(run, [i.id for i in snapshot.interrupts])
        # Resume only interrupts that are still pending in the checkpoint, by their ids.
        # With the update/goto a client sent with the resume (the LangGraph API's Command).
        return GraphCall.from_metadata(run.metadata).resume_command(decided) if decided else _WAIT
    # A crash after a step's tasks saved their writes but before the step's checkpoint leaves
    # `next` empty (every task has writes) with the tasks still listed: that is work left, not
    # a finished graph (seen with kill -9 in `manage.py chaos`).
    if snapshot.next or snapshot.tasks:
        stop = _breakpoint_in(graph, snapshot, run)
        if stop is not None:
            answer = approvals().breakpoint_answer(run, stop.key)
            # Not answered yet (or stopped here by a crash before its request opened): wait.
            return stop if answer is None else _Answered(stop, answer)
        return None
    return _DONE


def _new_turn(run: Run, snapshot: Any) -> bool:
    """A run started on a thread that earlier runs left (a conversation's next turn, the
    LangGraph API's runs on a thread): its newest checkpoint was written by another run, so the
    graph starts again with this run's input, as LangGraph does with new input (what an earlier
    run left pending, such as the interrupt of a run cancelled for this one, is dropped). Once
    this run has written a checkpoint, a crash or a resume continues from it as usual. A
    replay's copied thread carries the original's checkpoints and continues from them; a replay
    on the thread itself from a checkpoint with new input (the LangGraph API's `checkpoint_id`)
    starts a new turn from that checkpoint's copy."""
    writer = (snapshot.metadata or {}).get("steward_run_id")
    replay = (run.metadata or {}).get("replay")
    return writer is not None and writer != str(run.id) and (not replay or bool(replay.get("with_input")))


def execute(run_id: uuid.UUID | str) -> str | None:
    """Claim the run and work on it until it waits, finishes or fails.

    Returns:
        The run's new status, or None when the run was not ours to take.
    """
    # A replay's model and tool calls are played back at the LangChain level: the wrappers are
    # installed once per process and do nothing outside a replay (traces/recording/cassette.py).
    cassette.install()
    owner = uuid.uuid4().hex
    claimed_at = timezone.now()
    run = Run.claim(run_id, owner, claimed_at)
    if run is None:
        return None
    # Every log line of this execution, ours or a library's, names the run and its trace (the root run).
    with bound_contextvars(run_id=str(run.id), trace_id=str(run.root_id)):
        # A run a LangGraph SDK client streams publishes its stream parts (agents/engine/run_events.py).
        events = publisher_for(run.id, run.metadata)
        status = _execute_claimed(run, owner, events, _is_fresh(run, claimed_at))
        if events is not None:
            events.stopped(status)
        return status


def _execute_claimed(run: Run, owner: str, events: RunPublisher | None = None, fresh: bool = False) -> str | None:
    recorder = SpanRecorder(first_seq=0 if fresh else _first_seq(run.id))
    writer = StepWriter(run.id, owner, recorder, settings.STEWARD_LEASE_SECONDS, active_before=run.active_seconds)
    if run.attempts > settings.STEWARD_MAX_ATTEMPTS:
        return _stop(run, writer, error=f"gave up after {run.attempts - 1} attempts (the worker stopped each time)")
    if _is_copy(run):
        # A recorded replay: its thread and spans are the original's, copied when it was made
        # (traces/inspection/replay.py). It ends as the original ended; no node runs.
        return _stop(run, writer, output=run.output, error=run.error or None, error_traceback=run.error_traceback)
    spec = get_agent(run.agent.key)
    if spec is None:
        return _stop(run, writer, error=f"agent {run.agent.key!r} is not registered in this worker")

    limits = _limits_of(run, spec)
    guard = _guard_for(run, limits, recorder)
    cassette.prepare(str(run.id), (run.metadata or {}).get("replay"))
    config = run_config(run, recorder, guard)
    call = GraphCall.from_metadata(run.metadata)
    watch: ResumeWatch | None = None
    try:
        # A fresh run's thread has no checkpoint: LangGraph's first read of it needs no query.
        with checkpointer(writer, fresh_thread=run.thread_id if fresh else None) as saver:
            graph = compiled_graph(spec, saver, config)
            command = _next_input(graph, config, run, spec, fresh)
            if isinstance(command, Command) and isinstance(command.resume, dict):
                # What the thread looked like before the answers: tells a refusal from a failure.
                watch = ResumeWatch.before(saver, config, list(command.resume), graph)
            if command is _WAIT:
                return _stop(run, writer, interrupts=graph.get_state(config).interrupts)
            if isinstance(command, Breakpoint):
                return _stop(run, writer, breakpoint=command)
            if isinstance(command, _Answered):
                answered = command.stop
                recorder.record_gate(
                    BREAKPOINT_SPAN, answered.as_json(), "ok", command.answer, answered.step, answered.checkpoint_id
                )
                if not command.continues:
                    return _stop(run, writer, stopped=command)
                # LangGraph continues from a static breakpoint when invoked with no input.
                command = None
            watched = command is not _DONE and guard is not None and limits.timed
            finished: _Finished | None = None
            if events is not None:
                events.started()
            if command is not _DONE and not watched:
                if is_async_graph(graph):
                    asyncio.run(_ainvoke(spec, command, config, writer, events, call.context))
                    # The async saver wrote the thread: this saver reads it from now on.
                    thread_written = getattr(saver, "thread_written", None)
                    if thread_written is not None:
                        thread_written()
                else:
                    finished = _finished_state(graph, drive(graph, command, config, spec.durability, events, call.context))
            if not watched:
                snapshot, stop = (finished, None) if finished is not None else _end_state(graph, config, run)
        if watched:
            # The graph runs in a thread of its own, with a checkpoint connection of its own; this
            # thread holds none while it waits, so a timed run takes one pooled connection, not two.
            assert guard is not None
            run_watched(lambda: _invoke_on_own_saver(spec, command, config, writer, events, call.context), guard)
            with checkpointer(writer) as saver:
                snapshot, stop = _end_state(compiled_graph(spec, saver, config), config, run)
    except LimitExceeded as exc:
        log.info("run %s: %s", run.id, exc)
        return _stop(run, writer, breach=exc.breach, limits=limits)
    except LeaseLost as exc:
        log.info("run %s: %s; stopping", run.id, exc)
        return None
    except Exception as exc:
        if _postgres_connection_trouble(exc):
            # Not the run's fault: Postgres restarted or refused us. Recording a failure would
            # succeed on a fresh pooled connection and fail the run for good; instead the run
            # keeps its lease, the task fails, and the sweeper re-queues it once the lease expires.
            log.warning("run %s: the database connection failed (%s); left to its lease", run.id, exc)
            raise
        try:
            # An answer that came with an update/goto (the LangGraph API's Command) is not asked
            # again: the next answer would send that change a second time. The run fails instead.
            with_change = set((call.resume_with or {}).get("interrupts") or [])
            resumed = {i for task in watch.tasks.values() for i in task.interrupt_ids} if watch is not None else set()
            refusable = watch is not None and not (with_change & resumed) and _may_be_refusal(exc, recorder)
            refused = _refused(watch, spec, config, writer, exc) if watch is not None and refusable else None
        except LeaseLost as lost:
            log.info("run %s: %s; stopping", run.id, lost)
            return None
        if refused is not None:
            refusal, pending = refused
            log.info("run %s: the agent refused the answer to %s: %s", run.id, sorted(refusal.errors), exc)
            if events is not None:
                events.interrupted_again(pending)
            return _stop(run, writer, interrupts=pending, refusal=refusal)
        log.warning("run %s failed: %s", run.id, exc)
        return _stop(
            run,
            writer,
            error=f"{type(exc).__name__}: {exc}",
            error_traceback="".join(traceback.format_exception(exc)),
        )
    missed = cassette.first_miss(str(run.id))
    if missed:
        # The agent caught the cassette's error (a ToolNode that turns errors into messages):
        # the replay still fails, since it made a call the original never made.
        return _stop(run, writer, error=f"CassetteMiss: {missed}")
    if snapshot.interrupts:
        return _stop(run, writer, interrupts=snapshot.interrupts)
    if stop is not None:
        return _stop(run, writer, breakpoint=stop)
    return _stop(run, writer, output=spec.output(snapshot.values))


def _may_be_refusal(exc: BaseException, recorder: SpanRecorder) -> bool:
    """Whether an error of the resumed invocation can be the agent refusing its answer. Not when
    it is Steward's own (a replay's cassette, a model circuit, a sealed value), a provider's
    transient trouble, or when a model or tool call started after the answer was read: the node
    acted on the answer (a refund issued, then a notification failing), and asking again would
    have a reviewer approve the same action twice."""
    if recorder.calls_started:
        return False
    if is_transient(exc):
        return False
    own = ("agents.", "approvals.", "console.", "traces.")
    return not any(
        cls.__module__.startswith(own) and not cls.__module__.startswith("agents.examples.") for cls in type(exc).__mro__
    )


def _refused(
    watch: ResumeWatch, spec: AgentSpec, config: dict[str, Any], writer: StepWriter, exc: Exception
) -> tuple[Refusal, tuple[Interrupt, ...]] | None:
    """The agent's refusal of the answers it was resumed with, and the interrupts pending once the
    refused answers are taken back; None when `exc` is a failure of the run (or the check failed)."""
    try:
        with checkpointer(writer) as saver:
            refusal = watch.refusal(saver, config, exc)
            if refusal is None:
                return None
            pending = tuple(compiled_graph(spec, saver, config).get_state(config).interrupts)
    except LeaseLost:
        raise
    except Exception:  # whatever went wrong here, the run fails as it would have without the check
        log.exception("could not tell whether the agent refused its answer; the run fails")
        return None
    # The checkpoint must still be at the interrupts, with the same ids, or the run cannot wait.
    if not set(refusal.errors) <= {i.id for i in pending}:
        log.warning("refused answers to %s but the checkpoint does not wait for them", sorted(refusal.errors))
        return None
    return refusal, pending


@dataclass(frozen=True)
class _Finished:
    """The state of a graph that ran to its end, as far as the run's end needs it (a snapshot's
    `values` and `interrupts`)."""

    values: dict[str, Any]
    interrupts: tuple[Interrupt, ...] = ()


def _finished_state(graph: Any, output: Any) -> _Finished | None:
    """The end state from invoke's own output, when that says the graph ran to its end: no
    interrupt in it, no static breakpoint it could have stopped at, and the output is the
    state a snapshot would show (the same channels). Reading it back (`_end_state`) costs a
    query and a rebuilt snapshot on every run. None when that must be read."""
    if not isinstance(output, dict) or INTERRUPT_KEY in output:
        return None
    if graph.interrupt_before_nodes or graph.interrupt_after_nodes:
        return None
    if graph.output_channels != graph.stream_channels_asis:
        return None
    return _Finished(output)


def _end_state(graph: Any, config: dict[str, Any], run: Run) -> tuple[Any, Breakpoint | None]:
    """The graph's state once invoke returned, and the static breakpoint it stopped at, if any."""
    snapshot = graph.get_state(config)
    if snapshot.interrupts or not snapshot.next:
        return snapshot, None
    # Stopped with work left and no interrupt: a static breakpoint compiled into the graph
    # (interrupt_before/after); the nodes LangGraph would run next if LangGraph cannot say which.
    stop = _breakpoint_in(graph, snapshot, run) or Breakpoint(
        "before", list(snapshot.next), str(snapshot.config["configurable"].get("checkpoint_id") or ""),
        (snapshot.metadata or {}).get("step"), _shown_state(snapshot.values),
    )
    return snapshot, stop


def _already_paused_at(run: Run, stop: Breakpoint) -> bool:
    return bool(((run.metadata or {}).get("breakpoint") or {}).get("checkpoint_id") == stop.checkpoint_id)


def _is_copy(run: Run) -> bool:
    return bool(((run.metadata or {}).get("replay") or {}).get("copied"))


def _postgres_connection_trouble(exc: BaseException) -> bool:
    """A lost or refused Postgres connection (psycopg's OperationalError or InterfaceError, raw
    from the checkpointer or wrapped by Django), as opposed to an error of the run's own."""
    trouble = (psycopg.OperationalError, psycopg.InterfaceError)
    return isinstance(exc, trouble) or isinstance(exc.__cause__, trouble)


def _limits_of(run: Run, spec: AgentSpec) -> Limits:
    """The limits fixed on the run when it was created. A run created without them (a replay,
    or a run from before limits existed) takes its agent's now, and keeps them from then on."""
    if run.limits:
        return Limits.from_dict(run.limits)
    limits = agent_limits(spec, run.agent)
    run.fix_limits(limits.as_dict())
    return limits


def _guard_for(run: Run, limits: Limits, recorder: SpanRecorder) -> LimitGuard | None:
    if not limits.any:
        return None
    # The stored totals are written when a run stops; after a crash they miss what the lost
    # attempt committed, so then they are counted from the spans.
    totals = totals_of(run.id) if run.attempts > 1 else {"steps": run.steps, "cost": run.cost}
    return LimitGuard(
        limits,
        lambda: float(recorder.totals["cost"]),
        steps_before=int(totals["steps"]),
        cost_before=float(totals["cost"]),
        active_before=run.active_seconds,
    )


def _invoke_on_own_saver(
    spec: AgentSpec, command: Any, config: dict[str, Any], writer: StepWriter, events: RunPublisher | None = None, context: Any = None
) -> None:
    """The graph's invoke on a checkpoint connection of its own: for `run_watched`, whose thread
    may outlive this execution, and for async graphs, which need an async saver. An async graph
    (`async def` nodes) runs through `ainvoke` in an event loop of its own."""
    if is_async_graph(compiled_graph(spec, None, config)):
        asyncio.run(_ainvoke(spec, command, config, writer, events, context))
        return
    with checkpointer(writer) as saver:
        drive(compiled_graph(spec, saver, config), command, config, spec.durability, events, context)


async def _ainvoke(
    spec: AgentSpec, command: Any, config: dict[str, Any], writer: StepWriter, events: RunPublisher | None = None, context: Any = None
) -> None:
    async with async_checkpointer(writer) as saver:
        await adrive(compiled_graph(spec, saver, config), command, config, spec.durability, events, context)


def _stop(
    run: Run,
    writer: StepWriter,
    *,
    output: Any = None,
    error: str | None = None,
    error_traceback: str = "",
    interrupts: tuple[Interrupt, ...] | None = None,
    breach: Breach | None = None,
    limits: Limits | None = None,
    breakpoint: Breakpoint | None = None,
    stopped: _Answered | None = None,
    refusal: Refusal | None = None,
) -> str | None:
    """Write the last spans and the run's new state in one transaction, if the lease is ours.

    Over a limit (`breach`), the run fails, or waits for a reviewer when its limits say pause.
    At a static breakpoint (`breakpoint`) it waits for a reviewer to continue it; stopped there
    by one (`stopped`), it ends cancelled. When the agent refused a reviewer's answer
    (`refusal`), the run waits at the same `interrupts` and their requests are open again."""
    recorder = writer.recorder
    if refusal is not None:
        for interrupt_id, error in refusal.errors.items():
            recorder.record_gate(
                REFUSED_SPAN, {"interrupt_id": interrupt_id}, "error", {"error": error}, checkpoint_id=refusal.checkpoint_id
            )
    if breakpoint is not None and not _already_paused_at(run, breakpoint):
        # The pause, once per breakpoint (a run requeued while it waits stops here again).
        recorder.record_gate(BREAKPOINT_SPAN, breakpoint.as_json(), "paused", None, breakpoint.step, breakpoint.checkpoint_id)
    cassette.forget(str(run.id))
    reason = f"stopped: {breach.message}" if breach else "the run stopped before this span ended"
    spans: list[SpanRecord] = recorder.abandon_open(reason)
    pause = breach is not None and limits is not None and limits.on_breach == PAUSE
    if breach is not None and not pause:
        error = breach.message
    # A run that ends with one statement (no span left to write, nothing opened or recorded
    # beside it: success, or an error of its own) needs no transaction: BEGIN and COMMIT would
    # be two round trips more at the end of every run.
    alone = not spans and not interrupts and breach is None and breakpoint is None and stopped is None
    try:
        with nullcontext() if alone else transaction.atomic():
            if spans:
                with connection.cursor() as cursor:
                    insert_spans(cursor, connection.vendor, "%s", run.id, spans)
            totals = {**_totals_after(run, recorder), "active_seconds": writer.active_seconds()}
            if interrupts:
                status, won = Run.Status.WAITING, run.mark_waiting(totals)
                if won:
                    if refusal is not None:
                        # Pending again first: the requests' decisions no longer resume the run.
                        approvals().reopen_refused(run, refusal.errors)
                    approvals().open_requests_for_interrupts(run, interrupts)
            elif breach is not None and pause:
                assert limits is not None
                status, won = Run.Status.WAITING, run.mark_waiting(totals)
                if won:
                    approvals().pause_for_limit(run, breach, limits)
            elif breakpoint is not None:
                status, won = Run.Status.WAITING, run.mark_waiting(totals)
                if won:
                    run.save_metadata({**(run.metadata or {}), "breakpoint": breakpoint.as_json()})
                    # A request like any interrupt's, in the breakpoint's shape: continue or stop.
                    approvals().open_requests_for_interrupts(run, [Interrupt(value=breakpoint, id=breakpoint.key)])
            elif stopped is not None:
                status, won = Run.Status.CANCELLED, run.mark_cancelled(totals)
                if won:
                    who = stopped.answer.get("decided_by") or "a reviewer"
                    run.save_metadata({**(run.metadata or {}), "breakpoint": {**stopped.stop.as_json(), "stopped_by": who}})
            elif error is not None:
                status, won = Run.Status.FAILED, run.mark_failed(error, error_traceback, totals)
                if won and breach is not None:
                    record_breach(run.id, breach, "fail")
            else:
                status, won = Run.Status.SUCCEEDED, run.mark_succeeded(output, totals)
            if not won:
                raise LeaseLost(f"run {run.id} is no longer held by this worker")
            live.publish_run(run.id, status)
            transaction.on_commit(
                lambda: announce_run_stopped(
                    run.id, status, run.thread_id, runs_waiting=run.runs_waiting_behind, metadata=run.metadata
                )
            )
    except LeaseLost as exc:
        log.info("run %s: %s; its result is dropped", run.id, exc)
        return None
    return status
