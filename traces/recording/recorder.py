"""The recorder: a LangChain callback handler that turns LangGraph events into spans.

Spans are kept in memory until the checkpointer saves the step that produced them; then
`drain()` hands the finished ones over and they are written in the checkpoint's own
transaction (agents.engine.checkpointer). No commit per event, and no span of a saved step is lost.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.tools import ToolException
from langgraph.errors import GraphBubbleUp
from structlog.contextvars import bind_contextvars, unbind_contextvars

from console.kernel.serialize import MessageMemo, to_jsonable
from traces.recording.prices import price

__all__ = ["SpanRecord", "SpanRecorder", "started_node"]

log = logging.getLogger(__name__)

# The custom event the gate (approvals/gate.py) dispatches when it asks and when it is answered.
GATE_EVENT = "steward.gate"


@dataclass
class SpanRecord:
    id: uuid.UUID
    parent_id: uuid.UUID | None
    seq: int
    kind: str
    name: str
    started_at: datetime
    step: int | None
    input: Any
    status: str = "ok"
    output: Any = None
    error: str = ""
    latency_ms: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    model: str = ""
    checkpoint_id: str = ""
    prompt_version_id: int | None = None
    finished: bool = False
    # The step of the root graph the span belongs to (a subgraph's nodes count their own steps):
    # which checkpoint's transaction may write it (`SpanRecorder.drain`).
    root_step: int | None = None
    _t0: float = field(default_factory=time.perf_counter)


def started_node(serialized: dict[str, Any] | None, metadata: dict[str, Any] | None, kwargs: dict[str, Any]) -> str | None:
    """The graph node an `on_chain_start` event starts, or None for any other chain.

    A node's own event carries its name; routing functions share the node's metadata but not its
    name, and LangGraph's own `__start__`-style nodes are not the agent's steps."""
    node = (metadata or {}).get("langgraph_node")
    name = kwargs.get("name") or (serialized or {}).get("name", "")
    if node and name == node and not name.startswith("__"):
        return str(node)
    return None


def _error_text(error: BaseException) -> str:
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


class SpanRecorder(BaseCallbackHandler):
    """Collects spans for one run execution. Thread-safe: LangGraph runs tasks in threads."""

    raise_error = False

    def __init__(self, first_seq: int = 0) -> None:
        self._lock = threading.Lock()
        self._next_seq = first_seq
        self._open: dict[uuid.UUID, SpanRecord] = {}
        self._done: list[SpanRecord] = []
        # Messages converted to JSON so far: every step's input holds the earlier ones again.
        self._messages: MessageMemo = {}
        # LangChain run id → the span id that stands for it (itself, or its nearest recorded
        # ancestor), so routing functions and sequences inside a node do not become spans.
        self._owner: dict[uuid.UUID, uuid.UUID | None] = {}
        self._step_of: dict[uuid.UUID, int | None] = {}
        self._root_step_of: dict[uuid.UUID, int | None] = {}
        self._open_gate: dict[uuid.UUID, uuid.UUID] = {}
        # Span id → the prompt version last rendered under it (agents/prompts/__init__.py tags its templates),
        # so the model call that follows names the version it was sent.
        self._prompt_under: dict[uuid.UUID | None, int] = {}
        # The thread that invoked the graph, and the root-level tasks whose node finished on it
        # (see `finished_alone`); node span id → its LangGraph task id.
        self._invoking_thread: int | None = None
        self._task_of: dict[uuid.UUID, str] = {}
        self._alone: set[str] = set()
        # Model and tool calls started during this execution: a resumed node that called out
        # after reading its answer did more than refuse it (agents/engine/runtime.py `_refused`).
        self.calls_started = 0
        # Sums over every span this recorder finished, for the run's totals.
        self.totals: dict[str, Any] = {"steps": 0, "spans": 0, "tokens_in": 0, "tokens_out": 0, "cost": 0.0, "latency_ms": 0.0}

    # --- bookkeeping --------------------------------------------------------------------

    def _start(
        self,
        run_id: uuid.UUID,
        parent_run_id: uuid.UUID | None,
        kind: str,
        name: str,
        data: Any,
        step: int | None = None,
        span_id: uuid.UUID | None = None,
    ) -> SpanRecord:
        with self._lock:
            parent = self._owner.get(parent_run_id) if parent_run_id else None
            if step is None and parent is not None:
                step = self._step_of.get(parent)
            span = SpanRecord(
                id=span_id or run_id,
                parent_id=parent,
                seq=self._next_seq,
                kind=kind,
                name=name,
                started_at=datetime.now(UTC),
                step=step,
                input=to_jsonable(data, memo=self._messages),
                root_step=self._root_step_of.get(parent, step) if parent is not None else step,
            )
            self._next_seq += 1
            if kind in ("model", "tool"):
                self.calls_started += 1
            self._open[span.id] = span
            self._owner[run_id] = span.id
            self._step_of[span.id] = step
            self._root_step_of[span.id] = span.root_step
        # Log lines written inside the span (a node's or a tool's own code) name it. LangChain
        # calls start and end in the same context, and a node's code runs in a copy of it.
        bind_contextvars(span_id=str(span.id))
        return span

    def _pass_through(self, run_id: uuid.UUID, parent_run_id: uuid.UUID | None) -> None:
        with self._lock:
            self._owner[run_id] = self._owner.get(parent_run_id) if parent_run_id else None

    def _finish(self, span_id: uuid.UUID, status: str, output: Any = None, error: str = "") -> SpanRecord | None:
        with self._lock:
            span = self._open.pop(span_id, None)
            if span is None:
                return None
            span.status = status
            span.output = to_jsonable(output, memo=self._messages)
            span.error = error
            span.latency_ms = round((time.perf_counter() - span._t0) * 1000, 3)
            span.finished = True
            self._done.append(span)
            self.totals["spans"] += 1
            self.totals["tokens_in"] += span.tokens_in
            self.totals["tokens_out"] += span.tokens_out
            self.totals["cost"] += span.cost
            if span.kind == "node":
                self.totals["steps"] += 1
                self.totals["latency_ms"] += span.latency_ms
                task_id = self._task_of.pop(span.id, None)
                if task_id is not None and status == "ok" and threading.get_ident() == self._invoking_thread:
                    self._alone.add(task_id)
        log.debug(
            "span %s %s ended %s", span.kind, span.name, status,
            extra={"span_id": str(span.id), "span_kind": span.kind, "span_status": status, "latency_ms": span.latency_ms},
        )
        if span.parent_id is not None:
            bind_contextvars(span_id=str(span.parent_id))
        else:
            unbind_contextvars("span_id")
        return span

    def _end_or_error(self, run_id: uuid.UUID, error: BaseException) -> None:
        if run_id not in self._open:
            return
        if isinstance(error, GraphBubbleUp):
            # An interrupt is a pause, not a failure: the run waits for a person.
            gate = self._open_gate.pop(run_id, None)
            if gate is not None:
                self._finish(gate, "paused")
            self._finish(run_id, "paused")
        else:
            self._finish(run_id, "error", error=_error_text(error))

    def finished_alone(self, task_id: str) -> bool:
        """Whether the task `task_id` (of the root graph) ended well on the thread that invoked
        the graph. LangGraph runs a step's task on that thread only when it is the step's only
        task (its runner's fast path); a step of several tasks runs each on an executor thread.
        Answers once per task."""
        with self._lock:
            if task_id in self._alone:
                self._alone.discard(task_id)
                return True
            return False

    def record_gate(
        self, name: str, data: Any, status: str, output: Any = None, step: int | None = None, checkpoint_id: str = ""
    ) -> SpanRecord | None:
        """A gate span that no callback announces (a static breakpoint's pause or its answer,
        agents/engine/runtime.py): started and finished at once, written with the next drain."""
        span_id = uuid.uuid4()
        span = self._start(span_id, None, "gate", name, data, step=step)
        span.checkpoint_id = checkpoint_id
        with self._lock:
            self._owner.pop(span_id, None)
            self._step_of.pop(span_id, None)
            self._root_step_of.pop(span_id, None)
        return self._finish(span.id, status, output)

    def drain(self, up_to_step: int | None = None) -> list[SpanRecord]:
        """Hand over the finished spans (in start order) and forget them; with `up_to_step`,
        only those of root steps up to it (and those of no step).

        A step's transaction passes its step: LangGraph does not wait for a task's writes before
        the next step starts, so a late transaction of an earlier step must not take the spans
        of a later one and name them with its checkpoint (seen on a loaded machine: the state
        diff then compared the wrong steps). They wait for their own step's transaction."""
        done: list[SpanRecord] = []
        later: list[SpanRecord] = []
        with self._lock:
            for span in self._done:
                ready = up_to_step is None or span.root_step is None or span.root_step <= up_to_step
                (done if ready else later).append(span)
            self._done = later
        done.sort(key=lambda s: s.seq)
        return done

    def abandon_open(self, error: str) -> list[SpanRecord]:
        """Close spans left open when a run stops (a lost lease or a crash in our own code)."""
        with self._lock:
            ids = list(self._open)
        for span_id in ids:
            self._finish(span_id, "error", error=error)
        return self.drain()

    # --- nodes ----------------------------------------------------------------------------

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: uuid.UUID,
        parent_run_id: uuid.UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if parent_run_id is None and self._invoking_thread is None:
            # The graph's own start comes first, on the invoking thread; a chain started later
            # without a parent (on a task's thread) must not take its place.
            self._invoking_thread = threading.get_ident()
        node = started_node(serialized, metadata, kwargs)
        if node is not None:
            span = self._start(run_id, parent_run_id, "node", node, inputs, step=(metadata or {}).get("langgraph_step"))
            task_ns = str((metadata or {}).get("langgraph_checkpoint_ns") or "")
            if task_ns and "|" not in task_ns:  # a task of the root graph, not of a subgraph
                with self._lock:
                    self._task_of[span.id] = task_ns.rsplit(":", 1)[-1]
        else:
            self._pass_through(run_id, parent_run_id)
            version_id = (metadata or {}).get("steward_prompt_version_id")
            if version_id is not None:
                with self._lock:
                    self._prompt_under[self._owner.get(run_id)] = int(version_id)

    def on_chain_end(self, outputs: Any, *, run_id: uuid.UUID, **kwargs: Any) -> None:
        if run_id in self._open:
            self._finish(run_id, "ok", outputs)

    def on_chain_error(self, error: BaseException, *, run_id: uuid.UUID, **kwargs: Any) -> None:
        self._end_or_error(run_id, error)

    # --- model calls ------------------------------------------------------------------------

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[Any]],
        *,
        run_id: uuid.UUID,
        parent_run_id: uuid.UUID | None = None,
        metadata: dict[str, Any] | None = None,
        invocation_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        params = invocation_params or {}
        model = (
            params.get("model")
            or params.get("model_name")
            or (metadata or {}).get("ls_model_name")
            or (serialized or {}).get("name", "model")
        )
        span = self._start(run_id, parent_run_id, "model", str(model), messages[0] if len(messages) == 1 else messages)
        span.model = str(model)
        version_id = (metadata or {}).get("steward_prompt_version_id")
        if version_id is None:
            with self._lock:
                version_id = self._prompt_under.get(span.parent_id)
        span.prompt_version_id = int(version_id) if version_id is not None else None

    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: list[str],
        *,
        run_id: uuid.UUID,
        parent_run_id: uuid.UUID | None = None,
        **kwargs: Any,
    ) -> None:
        model = (kwargs.get("invocation_params") or {}).get("model") or (serialized or {}).get("name", "llm")
        span = self._start(run_id, parent_run_id, "model", str(model), prompts)
        span.model = str(model)

    def on_llm_end(self, response: Any, *, run_id: uuid.UUID, **kwargs: Any) -> None:
        span = self._open.get(run_id)
        if span is None:
            return
        output: Any = None
        generations = getattr(response, "generations", None) or [[]]
        if generations and generations[0]:
            first = generations[0][0]
            message = getattr(first, "message", None)
            output = message if message is not None else getattr(first, "text", None)
            usage = getattr(message, "usage_metadata", None) or {}
            span.tokens_in = int(usage.get("input_tokens", 0) or 0)
            span.tokens_out = int(usage.get("output_tokens", 0) or 0)
            reported = (getattr(message, "response_metadata", None) or {}).get("model_name")
            if reported:
                # The model that answered names the span (a replay's stand-in reports the original's).
                span.model = span.name = str(reported)
        span.cost = price(span.model, span.tokens_in, span.tokens_out)
        self._finish(run_id, "ok", output)

    def on_llm_error(self, error: BaseException, *, run_id: uuid.UUID, **kwargs: Any) -> None:
        self._end_or_error(run_id, error)

    # --- tools and gates -----------------------------------------------------------------

    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: uuid.UUID,
        parent_run_id: uuid.UUID | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        name = kwargs.get("name") or (serialized or {}).get("name", "tool")
        self._start(run_id, parent_run_id, "tool", str(name), inputs if inputs is not None else input_str)

    def on_tool_end(self, output: Any, *, run_id: uuid.UUID, **kwargs: Any) -> None:
        if run_id in self._open:
            self._finish(run_id, "ok", output)

    def on_tool_error(self, error: BaseException, *, run_id: uuid.UUID, **kwargs: Any) -> None:
        if isinstance(error, ToolException) and run_id in self._open:
            # The tool refused the call and the agent reads why (agents/engine/tools.py): the
            # output keeps the refusal, so a recorded replay plays it back the same way.
            self._finish(run_id, "error", {"refused": str(error)}, error=_error_text(error))
            return
        self._end_or_error(run_id, error)

    def on_custom_event(self, name: str, data: Any, *, run_id: uuid.UUID, **kwargs: Any) -> None:
        if name != GATE_EVENT or not isinstance(data, dict):
            return
        owner = self._owner.get(run_id)
        if data.get("phase") == "requested":
            payload = data.get("payload") or {}
            span = self._start(uuid.uuid4(), run_id, "gate", str(payload.get("action", "gate")), payload)
            if owner is not None:
                self._open_gate[owner] = span.id
        elif data.get("phase") == "decided" and owner is not None:
            gate = self._open_gate.pop(owner, None)
            if gate is not None:
                self._finish(gate, "ok", data.get("resume"))
