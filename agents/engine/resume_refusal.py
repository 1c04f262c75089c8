"""An agent refusing a reviewer's answer: the node that called `interrupt()` raised on the value
it was resumed with (a docs-style Agent Inbox node indexing an answer it did not expect, a
pydantic check of the answer, a ValueError of the author's own).

That is the reviewer's answer failing, not the run: the request goes back to pending with the
agent's error and the run waits again (agents/engine/runtime.py). What makes it sound:

- It is a refusal only when the failing task is the one that held a resumed interrupt, in the
  first step of the resumed invocation: the thread's newest checkpoint is still the one the run
  was resumed at (LangGraph commits no checkpoint for a failed step), the task has an error and
  no output (it never finished), and it consumed the resume value before raising (its resume
  write grew) or `interrupt()` itself refused it (`is_invalid_resume`). An error of any other
  task, or a later step, fails the run as before.
- Steward's own gate (approvals/gate.py) is left out: Steward built and checked its decision, and
  what raises after it is the approved action failing (its tool), which fails the run as before.
  Any other node's code after `interrupt()` returned is the agent's own: whatever it raises
  before the node finishes, a tool it calls itself included, refuses the answer.
- LangGraph keeps a task's consumed resume values as a pending write and hands them back the
  next time the task runs, before any new answer: the refused value would be replayed for ever.
  So the task's resume write is put back to what it was before this invocation; its interrupt is
  then pending again, with the same id, and the next answer is the one the node reads.
- An `interrupt()` in a subgraph (a compiled graph added as a node, or one a node invokes) is
  held twice: by the subgraph's task, in the subgraph's own checkpoint namespace (`node:task_id`,
  nested with `|`), whose resume write holds the value, and by the parent's task running the
  subgraph, which only carries the interrupt and the error up. So every namespace on the way
  down is watched: the task that read the value is the one refusing (its resume write, in its
  namespace, is put back), and the tasks carrying its interrupt up failed with it. The
  namespaces are the ones `get_state(subgraphs=True)` shows (LangGraph finds the subgraphs a
  node's code refers to); a subgraph it cannot find (built inside the node as it runs) is not
  watched, and its question's refused answer fails the run as before.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.serde.types import ERROR, INTERRUPT, RESUME, SCHEDULED
from langgraph.errors import is_invalid_resume
from langgraph.types import StateSnapshot

from agents.engine.interrupts import GATE, describe

__all__ = ["Refusal", "ResumeWatch"]

# A task's writes that say what happened to it rather than what it produced (LangGraph's
# `langgraph.pregel._task_status.CONTROL_WRITES`); a task with any other write finished.
_CONTROL = frozenset((ERROR, INTERRUPT, RESUME, SCHEDULED, "__error_source_node__"))
# Writes given to the step, not made by a task (LangGraph's NULL_TASK_ID).
_NULL_TASK_ID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class Refusal:
    """The resumed interrupts whose answers the agent refused, each with the agent's error, and
    the checkpoint the run still waits at."""

    errors: dict[str, str]
    checkpoint_id: str = ""


@dataclass(frozen=True)
class _Task:
    interrupt_ids: frozenset[str]
    # The task's resume write before this invocation (None: it had none).
    resume_before: list[Any] | None


# A task in the thread: its checkpoint namespace ("" for the root graph) and its id.
_Key = tuple[str, str]


def _thread_config(config: dict[str, Any], namespace: str = "") -> dict[str, Any]:
    configurable = config["configurable"]
    return {"configurable": {"thread_id": configurable["thread_id"], "checkpoint_ns": namespace}}


def _namespaces(graph: Any, config: dict[str, Any], wanted: frozenset[str]) -> list[str]:
    """The checkpoint namespaces holding the resumed interrupts: the root graph's, and those of
    the subgraphs whose tasks carry one of them, at any depth. No read when the graph has no
    subgraph."""
    if graph is None or next(iter(graph.get_subgraphs()), None) is None:
        return [""]
    found = [""]

    def walk(snapshot: StateSnapshot) -> None:
        for task in snapshot.tasks:
            if isinstance(task.state, StateSnapshot) and wanted & {i.id for i in task.interrupts}:
                found.append(str(task.state.config["configurable"]["checkpoint_ns"]))
                walk(task.state)

    walk(graph.get_state(config, subgraphs=True))
    return found


def _running_subgraph(namespace: str) -> _Key:
    """The parent's task that runs the subgraph checkpointed in `namespace` (`...|node:task_id`)."""
    parent, _, own = namespace.rpartition("|")
    return parent, own.rpartition(":")[2]


def _by_task(pending_writes: Sequence[tuple[str, str, Any]]) -> dict[str, dict[str, Any]]:
    """task id → {channel: value} of its writes at the checkpoint (a control write's slot is
    fixed, so each appears once; output writes are only counted)."""
    tasks: dict[str, dict[str, Any]] = {}
    for task_id, channel, value in pending_writes:
        if task_id == _NULL_TASK_ID:
            continue
        writes = tasks.setdefault(task_id, {"output": 0})
        if channel in _CONTROL:
            writes[channel] = value
        else:
            writes["output"] += 1
    return tasks


def _answerable_ids(value: Any) -> frozenset[str]:
    """The ids of the interrupts in a task's INTERRUPT write whose answers the agent's own code
    reads (not Steward's gate)."""
    items = value if isinstance(value, (list, tuple)) else [value]
    return frozenset(
        str(item.id) for item in items if getattr(item, "id", None) and describe(getattr(item, "value", None)).kind != GATE
    )


@dataclass(frozen=True)
class ResumeWatch:
    """What the thread looked like just before a resume: the checkpoint of each namespace holding
    a resumed interrupt, the tasks holding them with their resume writes, the tasks that had
    failed already."""

    checkpoints: dict[str, str]
    tasks: dict[_Key, _Task]
    failed_before: frozenset[_Key]

    @property
    def checkpoint_id(self) -> str:
        """The root graph's checkpoint, the one the run waits at."""
        return self.checkpoints[""]

    @classmethod
    def before(cls, saver: Any, config: dict[str, Any], resumed: Sequence[str], graph: Any = None) -> ResumeWatch | None:
        wanted = frozenset(resumed)
        checkpoints: dict[str, str] = {}
        tasks: dict[_Key, _Task] = {}
        failed: set[_Key] = set()
        for namespace in _namespaces(graph, config, wanted):
            found = saver.get_tuple(_thread_config(config, namespace))
            if found is None:
                if not namespace:
                    return None
                continue
            checkpoints[namespace] = str(found.config["configurable"]["checkpoint_id"])
            for task_id, writes in _by_task(found.pending_writes or []).items():
                ids = _answerable_ids(writes.get(INTERRUPT)) & wanted
                if ids and not writes["output"]:
                    before = writes.get(RESUME)
                    tasks[(namespace, task_id)] = _Task(ids, list(before) if isinstance(before, list) else None)
                if ERROR in writes:
                    failed.add((namespace, task_id))
        return cls(checkpoints, tasks, frozenset(failed))

    def refusal(self, saver: Any, config: dict[str, Any], error: BaseException) -> Refusal | None:
        """The refusal `error` (raised by the resumed invocation) is, if it is one; its tasks'
        resume writes are then put back, so their interrupts wait for a new answer. None: the
        run failed for another reason, and nothing is changed."""
        now: dict[str, dict[str, dict[str, Any]]] = {}
        configs: dict[str, Any] = {}
        for namespace, checkpoint_id in self.checkpoints.items():
            found = saver.get_tuple(_thread_config(config, namespace))
            if found is None or str(found.config["configurable"]["checkpoint_id"]) != checkpoint_id:
                return None  # a later step ran: the resumed node had finished
            now[namespace], configs[namespace] = _by_task(found.pending_writes or []), found.config
        # Tasks running a subgraph that holds a resumed interrupt: they read no answer themselves.
        carriers = {_running_subgraph(ns) for ns in self.checkpoints if ns}
        refused: dict[_Key, _Task] = {}
        for key, task in self.tasks.items():
            writes = now[key[0]].get(key[1], {})
            if key in carriers or ERROR not in writes or writes["output"]:
                continue
            resume = writes.get(RESUME)
            consumed = isinstance(resume, list) and len(resume) > len(task.resume_before or [])
            if consumed or is_invalid_resume(error):
                refused[key] = task
        refused_ids = frozenset().union(*(task.interrupt_ids for task in refused.values()))
        # The carriers of a refused interrupt failed with it, not on their own.
        carried = {key for key in carriers if key in self.tasks and self.tasks[key].interrupt_ids & refused_ids}
        failed_now = {(ns, t) for ns, by_task in now.items() for t, w in by_task.items() if ERROR in w}
        if not refused or failed_now - self.failed_before - set(refused) - carried:
            return None
        errors: dict[str, str] = {}
        for (namespace, task_id), task in refused.items():
            # The slot is fixed (WRITES_IDX_MAP): this replaces the write that holds the refused value.
            saver.put_writes(configs[namespace], [(RESUME, list(task.resume_before or []))], task_id)
            stored = now[namespace][task_id][ERROR]
            message = _message(error) if len(refused) == 1 else _stored_message(stored, error)
            errors.update(dict.fromkeys(sorted(task.interrupt_ids), message))
        return Refusal(errors, self.checkpoint_id)


def _message(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _stored_message(stored: Any, raised: BaseException) -> str:
    """A task's own error when several refused at once (only one of them was raised): the
    checkpoint keeps it as an exception, or as its repr (`ValueError('...')`) when the
    serializer keeps no exceptions, read back here as the message it carries."""
    if isinstance(stored, BaseException):
        return _message(stored)
    found = re.fullmatch(r"([A-Za-z_][\w.]*)\((.*)\)", stored, re.DOTALL) if isinstance(stored, str) else None
    if found is None:
        return str(stored) if stored else _message(raised)
    name, args = found.groups()
    try:
        value = ast.literal_eval(args) if args else ""
    except (ValueError, SyntaxError):
        return str(stored)
    # str() of an exception: its one argument, or the tuple of several.
    return f"{name}: {value}" if value != "" else name
