"""Threads: create, get, search, count, update, delete (hidden, never erased), copy; state (get,
at a checkpoint, update as a node) and history. A thread's runs are the Steward runs whose
`thread_id` it is; its status is its newest visible run's (status.py)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.db import connection, transaction
from django.db.models import OuterRef, Q, QuerySet, Subquery

from agents.engine.models import Run
from agents.engine.services import cancel_run
from agents.engine.thread_copy import copy_thread
from approvals.models import ApprovalRequest
from approvals.services import may_decide
from console.kernel import audit
from console.kernel.errors import Conflict, Invalid, NotFound
from console.langgraph_api.graphs import thread_config, thread_graph
from console.langgraph_api.http import Call, Reply, body_as
from console.langgraph_api.models import SdkRun, Thread
from console.langgraph_api.schemas import (
    HistoryIn,
    StateAtCheckpointIn,
    StateUpdateIn,
    ThreadCreateIn,
    ThreadSearchIn,
    ThreadUpdateIn,
    iso,
    jsonable,
)
from console.langgraph_api.status import thread_status

__all__ = ["find_thread", "refuse_if_pending_for", "state_of", "thread_out", "visible_runs"]


def visible_runs(thread_id: str) -> QuerySet[Run]:
    """The thread's runs the SDK lists: not deleted through it (they stay in the console)."""
    hidden = SdkRun.objects.filter(hidden_at__isnull=False, run_id=OuterRef("id"))
    return Run.objects.filter(thread_id=thread_id).exclude(id__in=Subquery(hidden.values("run_id")))


def _latest_status() -> Subquery:
    hidden = SdkRun.objects.filter(hidden_at__isnull=False).values("run_id")
    newest = Run.objects.filter(thread_id=OuterRef("thread_id")).exclude(id__in=hidden).order_by("-created_at")
    return Subquery(newest.values("status")[:1])


def find_thread(thread_id: str) -> Thread:
    thread = Thread.objects.filter(thread_id=thread_id, hidden_at__isnull=True).first()
    if thread is None:
        raise NotFound(f"thread {thread_id!r} not found")
    return thread


def thread_out(thread: Thread, latest: str | None, state: dict[str, Any] | None = None) -> dict[str, Any]:
    interrupts: dict[str, list[dict[str, Any]]] = {}
    for task in (state or {}).get("tasks", []):
        if task["interrupts"]:
            interrupts[task["id"]] = task["interrupts"]
    return {
        "thread_id": thread.thread_id,
        "created_at": iso(thread.created_at),
        "updated_at": iso(thread.updated_at),
        "metadata": {**(thread.metadata or {}), **({"graph_id": thread.graph_id} if thread.graph_id else {})},
        "status": thread_status(latest),
        "values": (state or {}).get("values") or {},
        "interrupts": interrupts,
    }


def _latest_of(thread: Thread) -> str | None:
    return visible_runs(thread.thread_id).order_by("-created_at").values_list("status", flat=True).first()


# --- state ------------------------------------------------------------------------------------


def _checkpoint(config: Any) -> dict[str, Any] | None:
    if not config:
        return None
    c = config.get("configurable") or {}
    return {
        "thread_id": c.get("thread_id"),
        "checkpoint_ns": c.get("checkpoint_ns", ""),
        "checkpoint_id": c.get("checkpoint_id"),
        "checkpoint_map": c.get("checkpoint_map"),
    }


def _interrupt_out(interrupt: Any) -> dict[str, Any]:
    out = {"value": jsonable(interrupt.value), "id": interrupt.id}
    schema = getattr(interrupt, "response_schema", None)
    if schema:
        out["response_schema"] = schema
    return out


def snapshot_out(snapshot: Any) -> dict[str, Any]:
    """A LangGraph StateSnapshot as the SDK's ThreadState."""
    return {
        "values": jsonable(snapshot.values),
        "next": list(snapshot.next),
        "checkpoint": _checkpoint(snapshot.config),
        "metadata": jsonable(snapshot.metadata or {}),
        "created_at": snapshot.created_at,
        "parent_checkpoint": _checkpoint(snapshot.parent_config),
        "tasks": [
            {
                "id": task.id,
                "name": task.name,
                "error": repr(task.error) if task.error else None,
                "interrupts": [_interrupt_out(i) for i in task.interrupts],
                "checkpoint": _checkpoint(task.state) if isinstance(task.state, dict) else None,
                "state": snapshot_out(task.state) if task.state is not None and not isinstance(task.state, dict) else None,
                "result": jsonable(task.result) if task.result is not None else None,
            }
            for task in snapshot.tasks
        ],
        "interrupts": [_interrupt_out(i) for i in snapshot.interrupts],
    }


def _empty_state(thread_id: str) -> dict[str, Any]:
    return {
        "values": {},
        "next": [],
        "checkpoint": {"thread_id": thread_id, "checkpoint_ns": "", "checkpoint_id": None, "checkpoint_map": None},
        "metadata": {},
        "created_at": None,
        "parent_checkpoint": None,
        "tasks": [],
        "interrupts": [],
    }


def state_of(thread: Thread, checkpoint_id: str | None = None, subgraphs: bool = False) -> dict[str, Any]:
    if not thread.graph_id:
        if checkpoint_id:
            raise NotFound(f"checkpoint {checkpoint_id!r} not found")
        return _empty_state(thread.thread_id)
    with thread_graph(thread.graph_id) as graph:
        snapshot = graph.get_state(thread_config(thread.thread_id, checkpoint_id), subgraphs=subgraphs)
    if snapshot.created_at is None:
        if checkpoint_id:
            raise NotFound(f"checkpoint {checkpoint_id!r} not found")
        return _empty_state(thread.thread_id)
    return snapshot_out(snapshot)


# --- the guard of state changes ---------------------------------------------------------------


def refuse_if_pending_for(thread_id: str, user: Any, what: str, resuming: Collection[str] = ()) -> None:
    """409 while the thread has a pending approval request `user` may not decide: changing its
    state, jumping with goto or copying it would go around that request's reviewers. The requests
    of the interrupts a resume answers (`resuming`) are left to the decision's own checks (403).

    Raises:
        Conflict."""
    pending = ApprovalRequest.objects.pending().filter(run__thread_id=thread_id).exclude(interrupt_id__in=list(resuming))
    pending = pending.select_related("queue")
    for request in pending:
        if not may_decide(request, user):
            raise Conflict(
                f"{what}: the thread waits for approval request {request.id} in queue {request.queue.name!r}, "
                "which you may not decide"
            )


def _refuse_if_busy(thread_id: str, what: str) -> None:
    active = visible_runs(thread_id).filter(status__in=(Run.Status.QUEUED, Run.Status.RUNNING)).first()
    if active is not None:
        raise Conflict(f"{what}: run {active.id} is {active.status} on this thread")


# --- handlers ---------------------------------------------------------------------------------


def create(call: Call) -> dict[str, Any]:
    body = body_as(ThreadCreateIn, call.body)
    if body.supersteps:
        raise Invalid([{"loc": ["body", "supersteps"], "msg": "creating a thread from supersteps is not supported by Steward"}])
    if body.ttl is not None:
        raise Invalid([{"loc": ["body", "ttl"], "msg": "thread TTLs are not supported by Steward (retention prunes runs)"}])
    thread_id = body.thread_id or Thread.new_id()
    existing = Thread.objects.filter(thread_id=thread_id).first()
    if existing is not None:
        if body.if_exists == "do_nothing" and existing.hidden_at is None:
            return thread_out(existing, _latest_of(existing))
        raise Conflict(f"thread {thread_id!r} already exists")
    if Run.objects.filter(thread_id=thread_id).exists():
        raise Conflict(f"thread id {thread_id!r} is taken by a Steward run's thread")
    metadata = dict(body.metadata or {})
    graph_id = body.graph_id or str(metadata.get("graph_id") or "")
    thread = Thread.objects.create(thread_id=thread_id, metadata=metadata, graph_id=graph_id, created_by=call.user)
    return thread_out(thread, None)


def get(call: Call, thread_id: str) -> dict[str, Any]:
    thread = find_thread(thread_id)
    return thread_out(thread, _latest_of(thread), state_of(thread))


def update(call: Call, thread_id: str) -> dict[str, Any]:
    body = body_as(ThreadUpdateIn, call.body)
    if body.ttl is not None:
        raise Invalid([{"loc": ["body", "ttl"], "msg": "thread TTLs are not supported by Steward"}])
    thread = find_thread(thread_id)
    thread.touch(metadata={**(thread.metadata or {}), **body.metadata})
    return thread_out(thread, _latest_of(thread))


def delete(call: Call, thread_id: str) -> Reply:
    """Hide the thread and cancel its active runs; runs, spans, audit and ledger rows stay."""
    thread = find_thread(thread_id)
    with transaction.atomic():
        for run in Run.objects.filter(thread_id=thread_id, status__in=Run.ACTIVE):
            cancel_run(run, call.user)
        thread.hide()
        audit.record(call.user, "thread.deleted", thread)
    return Reply(None, 204)


def _searched(query: ThreadSearchIn) -> QuerySet[Thread]:
    threads = Thread.objects.filter(hidden_at__isnull=True).annotate(latest=_latest_status())
    for key, value in (query.metadata or {}).items():
        threads = threads.filter(**{f"metadata__{key}": value})
    if query.ids:
        threads = threads.filter(thread_id__in=query.ids)
    if query.status:
        wanted = {
            "busy": [Run.Status.QUEUED, Run.Status.RUNNING],
            "interrupted": [Run.Status.WAITING],
            "error": [Run.Status.FAILED],
        }.get(query.status)
        if wanted is None:
            threads = threads.filter(Q(latest__isnull=True) | Q(latest__in=[Run.Status.SUCCEEDED, Run.Status.CANCELLED]))
        else:
            threads = threads.filter(latest__in=wanted)
    return threads


def search(call: Call) -> list[dict[str, Any]]:
    query = body_as(ThreadSearchIn, call.body)
    if query.values:
        raise Invalid([{"loc": ["body", "values"], "msg": "searching threads by state values is not supported by Steward"}])
    if query.extract:
        raise Invalid([{"loc": ["body", "extract"], "msg": "extract is not supported by Steward"}])
    field = {"thread_id": "thread_id", "status": "latest", "updated_at": "updated_at"}.get(query.sort_by or "", "created_at")
    order = field if query.sort_order == "asc" else f"-{field}"
    page = _searched(query).order_by(order, "thread_id")[query.offset : query.offset + query.limit]
    return [thread_out(t, getattr(t, "latest", None)) for t in page]


def count(call: Call) -> int:
    query = body_as(ThreadSearchIn, call.body)
    return _searched(query).count()


def copy(call: Call, thread_id: str) -> dict[str, Any]:
    """A new thread with the same checkpoints (and metadata); runs are not copied."""
    thread = find_thread(thread_id)
    refuse_if_pending_for(thread_id, call.user, "copying this thread")
    new = Thread(thread_id=Thread.new_id(), metadata=dict(thread.metadata or {}), graph_id=thread.graph_id, created_by=call.user)
    with transaction.atomic():
        new.save()
        with connection.cursor() as cursor:
            copy_thread(cursor, connection.vendor, thread_id, new.thread_id)
        audit.record(call.user, "thread.copied", new, source=thread_id)
    return thread_out(new, None)


def get_state(call: Call, thread_id: str, checkpoint_id: str | None = None) -> dict[str, Any]:
    thread = find_thread(thread_id)
    return state_of(thread, checkpoint_id, call.query("subgraphs", "false").lower() == "true")


def state_at_checkpoint(call: Call, thread_id: str) -> dict[str, Any]:
    body = body_as(StateAtCheckpointIn, call.body)
    return state_of(find_thread(thread_id), body.checkpoint.checkpoint_id, body.subgraphs)


def update_state(call: Call, thread_id: str) -> dict[str, Any]:
    """A new checkpoint with `values` written as `as_node` (LangGraph's `update_state`)."""
    body = body_as(StateUpdateIn, call.body)
    thread = find_thread(thread_id)
    if not thread.graph_id:
        raise Conflict("this thread has no graph yet: start a run on it first")
    _refuse_if_busy(thread_id, "updating the state")
    refuse_if_pending_for(thread_id, call.user, "updating the state")
    checkpoint_id = body.checkpoint_id or (body.checkpoint.checkpoint_id if body.checkpoint else None)
    with thread_graph(thread.graph_id) as graph:
        if body.as_node is not None and body.as_node not in graph.nodes:
            raise Invalid([{"loc": ["body", "as_node"], "msg": f"the graph has no node {body.as_node!r}"}])
        try:
            config = graph.update_state(thread_config(thread_id, checkpoint_id), body.values, as_node=body.as_node)
        except (ValueError, KeyError, TypeError) as exc:
            raise Invalid([{"loc": ["body", "values"], "msg": f"{type(exc).__name__}: {exc}"}]) from None
    thread.touch()
    audit.record(call.user, "thread.state_updated", thread, as_node=body.as_node, checkpoint_id=checkpoint_id)
    return {"checkpoint": _checkpoint(config)}


def history(call: Call, thread_id: str) -> list[dict[str, Any]]:
    body = body_as(HistoryIn, call.body or ({"limit": int(call.query("limit", "10") or 10)} if call.request.method == "GET" else None))
    thread = find_thread(thread_id)
    if not thread.graph_id:
        return []
    before = body.before if isinstance(body.before, str) or body.before is None else body.before.checkpoint_id
    checkpoint_id = body.checkpoint.checkpoint_id if body.checkpoint else None
    with thread_graph(thread.graph_id) as graph:
        snapshots = graph.get_state_history(
            thread_config(thread_id, checkpoint_id, body.checkpoint.checkpoint_ns if body.checkpoint else ""),
            filter=body.metadata or None,
            before=thread_config(thread_id, before) if before else None,
            limit=body.limit,
        )
        return [snapshot_out(s) for s in snapshots]
