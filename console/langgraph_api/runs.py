"""Runs: create (background), wait, join, get, list, cancel, delete; stateless runs (no thread)
and resumes (`command.resume`, with an update/goto or not), which are decisions on the run's
approval requests; runs that start from `Command(update=..., goto=...)`; a run's own
`config.configurable` and `context`; `multitask_strategy`, enqueue included; runs from a thread's
checkpoint (`checkpoint_id`: a live replay on the thread, traces/inspection/replay.py).

Run identity (docs/langgraph-api.md): a run with input is a new Steward run on the thread; a
resume answers with the id of the Steward run it resumes, which spans all its resumes."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import replace
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents.engine.graph_call import METADATA_KEY as GRAPH_CALL_KEY
from agents.engine.graph_call import GraphCall, reserved_configurable
from agents.engine.models import Run
from agents.engine.registry import AgentSpec
from agents.engine.services import cancel_run, start_run
from approvals.models import ApprovalRequest
from approvals.services import decide_resumes
from console.kernel import audit, outbound, ratelimit
from console.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from console.kernel.redaction import redacted
from console.kernel.roles import can_start_runs
from console.langgraph_api.assistants import find_assistant
from console.langgraph_api.graphs import thread_config, thread_graph
from console.langgraph_api.http import Call, RateLimited, Reply, body_as
from console.langgraph_api.models import SdkRun, Thread
from console.langgraph_api.schemas import RunCreateIn, assistant_id_of, iso, jsonable
from console.langgraph_api.status import RUN_STATUSES, run_status, steward_statuses
from console.langgraph_api.threads import find_thread, refuse_if_pending_for, visible_runs
from traces.inspection.replay import find_checkpoint, fork_in_place, from_checkpoint

__all__ = ["final_values", "run_out", "start_or_resume", "start_or_resume_sdk"]

log = logging.getLogger(__name__)

# How often a wait or a join looks at the run's row (the row is the truth, as for the workers).
POLL_SECONDS = 0.05

# What Steward cannot honour yet answers 422 naming the field, never a silent ignore.
_NOT_SUPPORTED = {
    "checkpoint_during": "durability is the agent's (sync for agents that reach a gate)",
    "durability": "durability is the agent's (sync for agents that reach a gate)",
    "after_seconds": "delayed runs are not supported by Steward",
}


# A run's config: `metadata` and `tags` join the run's metadata (the runs list filters by tag);
# `recursion_limit` and `run_name` are LangGraph's and Steward's own (100, the agent's key) stand,
# as docs/langgraph-api.md says; `configurable` values reach the graph, but for reserved keys.
_CONFIG_KEYS = {"configurable", "metadata", "tags", "recursion_limit", "run_name"}


def _metadata_of(body: RunCreateIn) -> dict[str, Any]:
    config = body.config or {}
    metadata = {**(config.get("metadata") or {}), **(body.metadata or {})}
    tags = [t for t in config.get("tags") or [] if isinstance(t, str)]
    if tags:
        given = metadata.get("tags")
        metadata["tags"] = sorted({*tags, *(given if isinstance(given, list) else [])})
    return metadata


def _webhook_errors(url: str | None) -> list[dict[str, Any]]:
    """The outbound address check of queue webhooks (console/kernel/outbound.py), at creation."""
    if url is None:
        return []
    try:
        outbound.check_url(url)
    except outbound.OutboundError as exc:
        return [{"loc": ["body", "webhook"], "msg": str(exc.detail)}]
    return []


def _breakpoints(body: RunCreateIn) -> dict[str, list[str]]:
    """`interrupt_before` / `interrupt_after` ("*" or node names) as start_run's breakpoints."""
    def nodes(given: Any) -> list[str]:
        return ["*"] if given == "*" else [str(n) for n in given or []]

    return {"before": nodes(body.interrupt_before), "after": nodes(body.interrupt_after)}


def _refuse_unsupported(body: RunCreateIn, thread_id: str | None = None) -> None:
    errors = _webhook_errors(body.webhook) + [{"loc": ["body", name], "msg": msg} for name, msg in _NOT_SUPPORTED.items() if getattr(body, name) is not None]
    config = body.config or {}
    unknown = sorted(set(config) - _CONFIG_KEYS)
    if unknown:
        errors.append({"loc": ["body", "config", unknown[0]], "msg": f"config.{unknown[0]} is not supported by Steward"})
    errors += _call_errors(body, thread_id)
    for name in ("interrupt_before", "interrupt_after"):
        given = getattr(body, name)
        if given is not None and given != "*" and not (isinstance(given, list) and all(isinstance(n, str) for n in given)):
            errors.append({"loc": ["body", name], "msg": 'a list of node names, or "*"'})
    if body.command is not None and body.input is not None:
        errors.append({"loc": ["body", "input"], "msg": "send either input or command, not both"})
    if errors:
        raise Invalid(errors)


def _has_update_or_goto(body: RunCreateIn) -> bool:
    return body.command is not None and (body.command.update is not None or body.command.goto is not None)


def _is_jump(body: RunCreateIn) -> bool:
    """A run that starts from Command(update=..., goto=...), not a resume."""
    return _has_update_or_goto(body) and body.command is not None and body.command.resume is None


def _call_errors(body: RunCreateIn, thread_id: str | None) -> list[dict[str, Any]]:
    """What is wrong with the run's own configurable values, context and update/goto command."""
    errors: list[dict[str, Any]] = []
    configurable = (body.config or {}).get("configurable") or {}
    if not isinstance(configurable, dict):
        return [{"loc": ["body", "config", "configurable"], "msg": "an object of configurable values"}]
    # RemoteGraph sends the thread's own id (Steward sets it anyway; without a thread, a cron's
    # or a stateless run's, it is ignored as before); another thread's id, or any other reserved
    # key, is Steward's or LangGraph's.
    def allowed(key: str) -> bool:
        return key == "thread_id" and (thread_id is None or configurable[key] == thread_id)

    for key in sorted(k for k in configurable if reserved_configurable(k) and not allowed(k)):
        errors.append({"loc": ["body", "config", "configurable", key], "msg": f"{key!r} is reserved: Steward sets it"})
    update = body.command.update if body.command is not None else None
    for loc, value in ((["body", "config", "configurable"], configurable), (["body", "context"], body.context), (["body", "command", "update"], update)):
        # Run metadata is stored redacted: a secret would reach the graph as a marker, so it is refused.
        if value and redacted(value)[1]:
            errors.append({"loc": loc, "msg": "holds a secret-looking key or value: pass secrets through the agent's environment"})
    errors += _checkpoint_errors(body)
    command = body.command
    if command is None:
        return errors
    if command.update is not None and not isinstance(command.update, dict):
        errors.append({"loc": ["body", "command", "update"], "msg": "an object of state keys and values"})
    goto = command.goto
    if goto is not None and not (isinstance(goto, str) or (isinstance(goto, list) and goto and all(isinstance(g, str) for g in goto))):
        errors.append({"loc": ["body", "command", "goto"], "msg": "a node name or a list of node names (Send is not supported)"})
    if _checkpoint_id_of(body) is not None:
        errors.append({"loc": ["body", "checkpoint_id"], "msg": "a run from a checkpoint takes input, or none: send no command"})
    if command.resume is not None and (configurable.keys() - {"thread_id"} or body.context):
        errors.append({"loc": ["body", "command", "resume"], "msg": "a resume keeps its run's configurable values and context: send none"})
    return errors


def _checkpoint_id_of(body: RunCreateIn) -> str | None:
    """The checkpoint the run starts from: `checkpoint_id`, or `checkpoint.checkpoint_id`."""
    if body.checkpoint_id is not None:
        return body.checkpoint_id
    return body.checkpoint.checkpoint_id if body.checkpoint is not None else None


def _checkpoint_errors(body: RunCreateIn) -> list[dict[str, Any]]:
    if body.checkpoint is not None and body.checkpoint.checkpoint_ns:
        return [{"loc": ["body", "checkpoint", "checkpoint_ns"], "msg": "a run starts from a checkpoint of the thread's graph, not of a subgraph"}]
    given = _checkpoint_id_of(body)
    if given is None:
        return []
    if not given.strip():
        return [{"loc": ["body", "checkpoint_id"], "msg": "name a checkpoint of the thread (threads.get_history)"}]
    if body.multitask_strategy == "enqueue":
        # The thread's state moves while the run waits: the checkpoint is copied when the run is created.
        return [{"loc": ["body", "multitask_strategy"], "msg": "a run from a checkpoint cannot be enqueued: join the thread's run, then create it"}]
    return []


def _graph_call(body: RunCreateIn) -> GraphCall:
    configurable = (body.config or {}).get("configurable") or {}
    command = None
    if _is_jump(body):
        assert body.command is not None
        command = {"update": body.command.update, "goto": body.command.goto}
    return GraphCall(
        {k: v for k, v in configurable.items() if not reserved_configurable(k)}, body.context or None, command, webhook=bool(body.webhook)
    )


def run_out(run: Run, sdk: SdkRun | None) -> dict[str, Any]:
    return {
        "run_id": str(run.id),
        "thread_id": sdk.thread_id if sdk and sdk.thread_id else run.thread_id,
        "assistant_id": sdk.assistant_id if sdk else assistant_id_of(run.agent.key),
        "created_at": iso(run.created_at),
        "updated_at": iso(max(filter(None, [run.created_at, run.started_at, run.finished_at, sdk.updated_at if sdk else None]))),
        "status": run_status(run),
        "metadata": run.metadata or {},
        "multitask_strategy": sdk.multitask_strategy if sdk else "reject",
        "kwargs": sdk.kwargs if sdk else {},
    }


def _headers(run: Run, thread_id: str | None) -> dict[str, str]:
    where = f"/threads/{thread_id}/runs/{run.id}" if thread_id else f"/runs/{run.id}"
    return {"Content-Location": where, "Location": f"{where}/join" if thread_id else where}


# --- starting ---------------------------------------------------------------------------------


def _clear_the_way(thread: Thread, strategy: str, user: Any) -> None:
    """The thread's active runs under `multitask_strategy` (the thread's row is locked)."""
    active = list(visible_runs(thread.thread_id).filter(status__in=Run.ACTIVE).select_related("agent"))
    if not active:
        return
    if strategy == "reject":
        run = active[0]
        raise Conflict(f"thread {thread.thread_id} is busy: run {run.id} is {run.status} (multitask_strategy=reject)")
    if strategy == "enqueue":
        # The new run queues behind them (start_run, agents/engine/thread_queue.py).
        return
    # Cancelling is what `/api/runs/{id}/cancel` allows the same role (its pending requests are
    # cancelled with it); the new run starts from the thread's last checkpoint.
    for run in active:
        cancel_run(run, user)
        if strategy == "rollback":
            SdkRun.objects.filter(run_id=run.id).update(hidden_at=timezone.now(), updated_at=timezone.now())


def _start(user: Any, body: RunCreateIn, spec: AgentSpec, thread: Thread | None) -> SdkRun:
    if not can_start_runs(user):
        raise Forbidden("your role does not allow you to start runs")
    strategy = body.multitask_strategy or "reject"
    with transaction.atomic():
        if thread is not None:
            thread = Thread.objects.select_for_update().get(thread_id=thread.thread_id)
            if thread.graph_id and thread.graph_id != spec.key:
                raise Conflict(f"thread {thread.thread_id} holds graph {thread.graph_id!r}'s state, not {spec.key!r}'s")
        checkpoint_id = _checkpoint_id_of(body)
        if thread is not None and checkpoint_id is not None:
            find_checkpoint(thread.thread_id, checkpoint_id)
            # Going back past a pending approval request is for those who may decide it.
            refuse_if_pending_for(thread.thread_id, user, "a run from a checkpoint")
        if thread is not None:
            _clear_the_way(thread, strategy, user)
        start = from_checkpoint(thread.thread_id, checkpoint_id) if thread is not None and checkpoint_id is not None else None
        started: dict[str, Run] = {}
        if start is not None:
            assert thread is not None
            # The copy becomes the thread's newest checkpoint once the run is committed (a failed
            # transaction leaves the thread as it was), and before the run is sent: on_commit
            # callbacks run in the order they were registered, start_run's send after this one.
            transaction.on_commit(partial(_fork_for, thread.thread_id, start.checkpoint_id, started, user))
        run = start_run(
            spec.key, body.input or {}, user, _metadata_of(body),
            breakpoints=_breakpoints(body), thread_id=thread.thread_id if thread else None, call=_graph_call(body),
            enqueue=strategy == "enqueue",
            replay_of=start.source if start else None, replay=start.metadata(body.input is not None) if start else None,
        )
        started["run"] = run
        sdk = SdkRun.objects.create(
            run=run,
            thread=thread,
            assistant_id=assistant_id_of(spec.key),
            multitask_strategy=strategy,
            kwargs={
                "input": body.input, "command": body.command.model_dump() if body.command else None, "stream_mode": body.stream_mode, "config": body.config or {},
                "webhook": body.webhook,
            },
        )
        if thread is not None:
            thread.touch(graph_id=spec.key)
        if start is not None:
            assert thread is not None
            audit.record(
                user, "run.replayed", run, source=str(start.source.id) if start.source else None, mode="live",
                from_step=start.from_step, checkpoint_id=start.checkpoint_id, via="langgraph checkpoint_id",
            )
    return sdk


def _fork_for(thread_id: str, checkpoint_id: str, started: dict[str, Run], user: Any) -> None:
    """Copy the checkpoint as the thread's newest for the run just committed; should the copy
    fail, the run is cancelled rather than started from the thread's last state."""
    try:
        fork_in_place(thread_id, checkpoint_id)
    except Exception:
        log.exception("could not fork thread %s at checkpoint %s: run %s cancelled", thread_id, checkpoint_id, started["run"].id)
        cancel_run(started["run"], user)


def _resume(user: Any, body: RunCreateIn, thread: Thread) -> SdkRun:
    """`Command(resume=...)`: each value is the decision of the caller on that interrupt's request."""
    assert body.command is not None
    run = visible_runs(thread.thread_id).filter(status=Run.Status.WAITING).select_related("agent").order_by("-created_at").first()
    if run is None:
        raise Conflict(f"thread {thread.thread_id} has no interrupted run to resume")
    pending = list(ApprovalRequest.objects.pending().filter(run_id=run.id).exclude(interrupt_id="").values_list("interrupt_id", flat=True))
    resume = body.command.resume
    if isinstance(resume, dict) and resume and set(resume) <= set(pending):
        values = dict(resume)
    elif len(pending) == 1:
        values = {pending[0]: resume}
    elif not pending:
        raise Conflict(f"run {run.id} waits for no interrupt the API can resume (a limit pause is decided in the console)")
    else:
        msg = f"{len(pending)} interrupts are pending: resume them by id, Command(resume={{interrupt_id: value, ...}}); ids: {pending}"
        raise Invalid([{"loc": ["body", "command", "resume"], "msg": msg}])
    changes_state = _has_update_or_goto(body)
    if changes_state and not can_start_runs(user):
        # Alone, update/goto need the role that changes threads (a state update, a run): so with a resume.
        raise Forbidden("your role does not allow you to change a thread's state: Command(resume=...) without update or goto")
    with transaction.atomic():
        if changes_state:
            # The update/goto goes around any other pending request of the thread: as update/goto alone.
            refuse_if_pending_for(thread.thread_id, user, "Command(resume=..., update=..., goto=...)", resuming=values)
        decide_resumes(run, user, values)
        if changes_state:
            _resume_with(run, body, values)
            audit.record(
                user, "run.resume_command", run, interrupts=sorted(values), goto=body.command.goto,
                update_keys=sorted(body.command.update) if isinstance(body.command.update, dict) else None,
            )
    SdkRun.objects.filter(run_id=run.id).update(updated_at=timezone.now())
    run.refresh_from_db()
    sdk = SdkRun.objects.select_related("run__agent").filter(run_id=run.id).first()
    return sdk if sdk is not None else SdkRun(run=run, thread=thread, assistant_id=assistant_id_of(run.agent.key))


def _resume_with(run: Run, body: RunCreateIn, values: dict[str, Any]) -> None:
    """Keep the update/goto on the run, for the worker to send in the Command that resumes these
    interrupts (GraphCall.resume_command), after the decisions recorded them (the run's row is
    locked: `decide_resumes` took it, and the run is requeued only when this commits)."""
    assert body.command is not None
    unsettled = ApprovalRequest.objects.pending().filter(run_id=run.id, interrupt_id__in=list(values)).count()
    if unsettled:
        # A quorum still open: whoever completes it would approve an update they were never shown.
        raise Conflict("this resume does not settle its request (a quorum wants more votes): send update/goto without it, once settled")
    run.refresh_from_db(fields=["metadata"])
    call = GraphCall.from_metadata(run.metadata)
    given = {"interrupts": sorted(values), "update": body.command.update, "goto": body.command.goto}
    call = replace(call, resume_with=given)
    run.save_metadata({**(run.metadata or {}), GRAPH_CALL_KEY: call.as_dict()})


def _spend_budget(user: Any, kind: str) -> None:
    """The per-user budgets of `/api/` (console/kernel/ratelimit.py): starting a run spends a
    "start", a resume a "decide", as `POST /api/runs` and `POST /api/approvals/{id}/decision` do."""
    limit = settings.STEWARD_RATE_LIMIT_PER_MINUTE
    if limit <= 0:
        return
    wait = ratelimit.hit(kind, int(user.pk), limit)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        what = "run starts" if kind == "start" else "decisions"
        raise RateLimited(f"too many {what}: at most {limit} a minute; try again in {seconds} s", seconds)


def start_or_resume(user: Any, thread_id: str | None, given: Any) -> Run:
    """`start_or_resume_sdk`'s Steward run."""
    return start_or_resume_sdk(user, thread_id, given).run


def start_or_resume_sdk(user: Any, thread_id: str | None, given: Any) -> SdkRun:
    """What `POST .../runs` (and `/wait`, and the stream endpoints) do with a body: start a run
    with its input on the thread (or a thread of its own), or resume the thread's interrupted run
    with `command.resume`. Called in the caller's transaction, the worker gets the run only once
    that commits (the stream endpoints store their options on the run first).

    Raises:
        NotFound: no such assistant or thread. Forbidden: the role, or not allowed to decide an
        interrupt. RateLimited: the caller's budget is spent. Conflict: the thread is busy (multitask_strategy=reject), holds another
        graph, or has nothing to resume. Invalid: a malformed body, or what Steward cannot honour.
    """
    body = body_as(RunCreateIn, given)
    _spend_budget(user, "decide" if body.command is not None and not _is_jump(body) else "start")
    _refuse_unsupported(body, thread_id)
    spec = find_assistant(body.assistant_id)
    thread: Thread | None = None
    if thread_id is not None:
        thread = Thread.objects.filter(thread_id=thread_id, hidden_at__isnull=True).first()
        if thread is None and body.if_not_exists == "create" and (body.command is None or _is_jump(body)):
            if Thread.objects.filter(thread_id=thread_id).exists() or Run.objects.filter(thread_id=thread_id).exists():
                # A deleted thread stays deleted; a Steward run's own thread is not the SDK's to take.
                raise Conflict(f"thread id {thread_id!r} is taken")
            thread, _ = Thread.objects.get_or_create(thread_id=thread_id, defaults={"created_by": user})
        if thread is None:
            raise NotFound(f"thread {thread_id!r} not found")
    if thread is None and _checkpoint_id_of(body) is not None:
        raise Invalid([{"loc": ["body", "checkpoint_id"], "msg": "a stateless run has no checkpoints: run from a checkpoint on its thread"}])
    if _is_jump(body):
        if thread is None:
            raise Invalid([{"loc": ["body", "command"], "msg": "update and goto change a thread's state: send them on a thread"}])
        # Going around a pending approval request is for those who may decide it.
        refuse_if_pending_for(thread.thread_id, user, "Command(update=..., goto=...)")
    elif body.command is not None:
        if thread is None:
            raise Invalid([{"loc": ["body", "command"], "msg": "a stateless run has nothing to resume: resume on its thread"}])
        return _resume(user, body, thread)
    return _start(user, body, spec, thread)


def create(call: Call, thread_id: str | None = None) -> Reply:
    sdk = start_or_resume_sdk(call.user, thread_id, call.body)
    return Reply(run_out(sdk.run, sdk), 200, _headers(sdk.run, thread_id))


# --- waiting ----------------------------------------------------------------------------------


def _wait_until_stopped(run_id: Any) -> Run:
    """The run once it is no longer queued or running: finished, or waiting for a person."""
    while True:
        run = Run.objects.select_related("agent").get(id=run_id)
        if run.status not in (Run.Status.QUEUED, Run.Status.RUNNING):
            return run
        time.sleep(POLL_SECONDS)


def final_values(run: Run) -> Any:
    """What `wait` and `join` answer: the thread's values; with `__interrupt__` while the run
    waits, `__error__` when it failed (as LangGraph Platform)."""
    if run.status == Run.Status.FAILED:
        kind, _, message = (run.error or "error").partition(": ")
        return {"__error__": {"error": kind if message else "Error", "message": message or run.error}}
    with thread_graph(run.agent.key) as graph:
        snapshot = graph.get_state(thread_config(run.thread_id))
    values = jsonable(snapshot.values) if snapshot.created_at is not None else {}
    if snapshot.interrupts and isinstance(values, dict):
        values["__interrupt__"] = [{"value": jsonable(i.value), "id": i.id} for i in snapshot.interrupts]
    return values


def wait(call: Call, thread_id: str | None = None) -> Reply:
    if isinstance(call.body, dict) and call.body.get("on_disconnect") == "cancel":
        # The stream endpoints see a client go; this blocking answer does not (yet).
        msg = "on_disconnect=cancel is supported on runs.stream, not on runs.wait: the run continues when you go"
        raise Invalid([{"loc": ["body", "on_disconnect"], "msg": msg}])
    run = start_or_resume(call.user, thread_id, call.body)
    stopped = _wait_until_stopped(run.id)
    body = call.body or {}
    if thread_id is None and body.get("on_completion", "delete") == "delete" and stopped.is_finished:
        SdkRun.objects.filter(run_id=run.id).update(hidden_at=timezone.now())
    return Reply(final_values(stopped), 200, _headers(run, thread_id))


# --- one run ----------------------------------------------------------------------------------


def _find_run(thread_id: str, run_id: str) -> Run:
    find_thread(thread_id)
    try:
        run = visible_runs(thread_id).select_related("agent").filter(id=run_id).first()
    except Exception:  # not a uuid
        run = None
    if run is None:
        raise NotFound(f"run {run_id!r} not found on thread {thread_id!r}")
    return run


def list_runs(call: Call, thread_id: str) -> list[dict[str, Any]]:
    find_thread(thread_id)
    try:
        limit, offset = int(call.query("limit", "10")), int(call.query("offset", "0"))
    except ValueError:
        raise Invalid([{"loc": ["query", "limit"], "msg": "limit and offset must be whole numbers"}]) from None
    runs = visible_runs(thread_id).select_related("agent").order_by("-created_at", "-id")
    status = call.query("status")
    if status:
        if status not in RUN_STATUSES:
            raise Invalid([{"loc": ["query", "status"], "msg": f"status must be one of {', '.join(RUN_STATUSES)}"}])
        runs = runs.filter(status__in=steward_statuses(status))
    page = list(runs[max(offset, 0) : max(offset, 0) + max(min(limit, 1000), 1)])
    sdk = {s.run_id: s for s in SdkRun.objects.filter(run_id__in=[r.id for r in page])}
    return [run_out(r, sdk.get(r.id)) for r in page]


def get(call: Call, thread_id: str, run_id: str) -> dict[str, Any]:
    run = _find_run(thread_id, run_id)
    return run_out(run, SdkRun.objects.filter(run_id=run.id).first())


def join(call: Call, thread_id: str, run_id: str) -> Any:
    run = _find_run(thread_id, run_id)
    return final_values(_wait_until_stopped(run.id))


def cancel(call: Call, thread_id: str, run_id: str) -> Reply:
    """Cancel the run (`action=interrupt`), or cancel it and hide it (`rollback`)."""
    action = call.query("action", "interrupt")
    if action not in ("interrupt", "rollback"):
        raise Invalid([{"loc": ["query", "action"], "msg": "action must be interrupt or rollback"}])
    run = _find_run(thread_id, run_id)
    with transaction.atomic():
        cancel_run(run, call.user)
        if action == "rollback":
            SdkRun.objects.filter(run_id=run.id).update(hidden_at=timezone.now(), updated_at=timezone.now())
    return Reply(None, 204)


def delete(call: Call, thread_id: str, run_id: str) -> Reply:
    """Hide the run from the SDK's lists (cancelled first if active); it stays in the console."""
    run = _find_run(thread_id, run_id)
    with transaction.atomic():
        if run.status in Run.ACTIVE:
            cancel_run(run, call.user)
        sdk, _ = SdkRun.objects.get_or_create(run=run, defaults={"assistant_id": assistant_id_of(run.agent.key)})
        sdk.hide()
    return Reply(None, 204)
