"""Writes that start runs and stop them: a row first, then a message on commit."""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any

from django.db import transaction
from django.utils import timezone
from pydantic import ValidationError

from agents.engine import thread_queue
from agents.engine.graph_call import METADATA_KEY as GRAPH_CALL_KEY
from agents.engine.graph_call import GraphCall
from agents.engine.hooks import approvals
from agents.engine.limits import AgentLimitsIn, Limits, agent_limits, limits_for_run
from agents.engine.models import Agent, Run
from agents.engine.registry import AgentSpec, compile_agent, get_agent, sync_agents
from agents.engine.run_queue import send_run
from agents.prompts import pins_for_new_run, save_pins
from console.kernel import audit, live
from console.kernel.errors import Conflict, Invalid, NotFound, validation_errors
from console.kernel.redaction import redact
from traces.recording.sealed import seal_run_input

__all__ = ["cancel_run", "set_agent_limits", "start_run"]


@cache
def _fingerprint(agent_key: str) -> str:
    spec = get_agent(agent_key)
    return spec.fingerprint() if spec else ""


def start_run(
    agent_key: str,
    input: Any,
    user: Any,
    metadata: dict[str, Any] | None = None,
    limits: dict[str, Any] | None = None,
    breakpoints: dict[str, list[str]] | None = None,
    thread_id: str | None = None,
    call: GraphCall | None = None,
    enqueue: bool = False,
    replay_of: Run | None = None,
    replay: dict[str, Any] | None = None,
) -> Run:
    """Validate the input against the agent's schema, write a queued run, send it on commit.

    Args:
        limits: this run's own limits (agents/engine/limits.py), over the agent's: anyone may tighten
            them, only an admin may loosen them. The effective limits are stored on the run.
        breakpoints: static breakpoints given at run time, beside those compiled into the graph:
            {"before": [node, ...], "after": [...]} ("*" for every node); kept in the run's
            metadata (`interrupt_before`, `interrupt_after`), which the runtime hands LangGraph.
        thread_id: a thread earlier runs left (the LangGraph API's threads): the run is that
            conversation's next turn. None: a thread of its own, named by the run's id.
        call: the run's own configurable values, context, or start Command (agents/engine/graph_call.py),
            kept in its metadata. A run that starts from a Command has no input (`{}`, not validated).
        enqueue: on a thread with active runs, queue behind them instead of starting now
            (agents/engine/thread_queue.py); the run stays `queued` until they end.
        replay_of, replay: a run from a thread's checkpoint (traces/inspection/replay.py
            `from_checkpoint`): the run that wrote the checkpoint, and the run's `replay` metadata.
            Without input (`with_input` false) it continues from the checkpoint: nothing to validate.

    Raises:
        NotFound: no such agent. Forbidden: a non-admin asked for looser limits than the agent's.
        Invalid: the input fails the agent's input schema, or a limit is not a valid value.
    """
    spec = get_agent(agent_key)
    if spec is None:
        raise NotFound(f"unknown agent {agent_key!r}")
    try:
        # get(), not first(): first() orders by the model's ordering, whose compile was a third
        # of the query's cost on every POST /api/runs.
        agent = Agent.objects.get(key=agent_key)
    except Agent.DoesNotExist:
        sync_agents()
        agent = Agent.objects.get(key=agent_key)
    run_limits = limits_for_run(agent_limits(spec, agent), limits, user)
    submitted: Any = {}
    continues = replay is not None and not replay.get("with_input")
    if (call is None or call.command is None) and not continues:
        try:
            submitted = spec.input_schema.model_validate(spec.prepare_input(input)).model_dump(mode="json")
        except ValidationError as exc:
            raise Invalid(validation_errors(exc, "input")) from None
    # Keys the runtime reads are Steward's to set: a caller's `replay` would make the run a replay.
    metadata = {k: v for k, v in (metadata or {}).items() if k not in ("interrupt_before", "interrupt_after", GRAPH_CALL_KEY, "replay")}
    metadata.update(_checked_breakpoints(spec, breakpoints or {}))
    if call is not None and call.as_dict():
        metadata[GRAPH_CALL_KEY] = call.as_dict()
    if replay is not None:
        metadata["replay"] = replay
    run_id = uuid.uuid4()
    pins = pins_for_new_run(spec.prompts, str(run_id)) if spec.prompts else {}
    with transaction.atomic():
        waits = False
        if enqueue and thread_id is not None:
            thread_queue.lock_thread(thread_id)
            waits = thread_queue.must_wait(thread_id)
        run = Run.objects.create(
            id=run_id,
            agent=agent,
            thread_id=thread_id or str(run_id),
            # Stored redacted; the input as submitted is sealed for the worker (traces/recording/sealed.py).
            input=seal_run_input(run_id, submitted),
            # "imported" marks a read-only copy from another Steward; a caller cannot set it.
            metadata=redact({k: v for k, v in (metadata or {}).items() if k != "imported"}),
            created_by=user if getattr(user, "pk", None) else None,
            parent_run=replay_of,
            root_run_id=replay_of.root_id if replay_of else None,
            graph_fingerprint=_fingerprint(agent_key),
            enqueued_at=timezone.now(),
            prompt_versions=pins,
            limits=run_limits.as_dict(),
            waits_for_thread=waits,
        )
        if pins:
            save_pins(run.id, pins)
        if not waits:
            send_run(run.id)
        elif thread_id is not None:
            # The run ahead may end between our look and our commit, its worker finding no queued
            # run yet: look again once this one is visible (start_next starts it only if nothing
            # is ahead any more).
            queued_on = thread_id
            transaction.on_commit(lambda: thread_queue.start_next(queued_on), robust=True)
        live.publish_run(run.id, run.status)
    return run


def _checked_breakpoints(spec: AgentSpec, breakpoints: dict[str, list[str]]) -> dict[str, list[str]]:
    """{"interrupt_before": [...], "interrupt_after": [...]} for the run's metadata, the nodes
    checked against the graph's; 422 naming a node the graph does not have."""
    wanted = {f"interrupt_{when}": list(dict.fromkeys(nodes)) for when, nodes in breakpoints.items() if nodes}
    if not wanted:
        return {}
    known = {name for name in compile_agent(spec).nodes if not name.startswith("__")}
    errors = [
        {"loc": ["body", key, i], "msg": f"{node!r} is not a node of {spec.key} (its nodes: {', '.join(sorted(known))})"}
        for key, nodes in wanted.items()
        for i, node in enumerate(nodes)
        if node != "*" and node not in known
    ]
    if errors:
        raise Invalid(errors)
    return {key: ["*"] if "*" in nodes else nodes for key, nodes in wanted.items()}


def cancel_run(run: Run, user: Any) -> Run:
    """Cancel a queued, running or waiting run and its pending approvals.

    Raises:
        Conflict: the run has already finished, or it is an imported (read-only) copy.
    """
    if run.metadata.get("imported"):
        raise Conflict("imported runs are read-only")
    with transaction.atomic():
        # The lock order (docs/architecture.md, "Locks"): `cancel` locks the run's row, then its
        # requests are locked and cancelled, then audited. A decision locks the run first too.
        if not run.cancel():
            run.refresh_from_db()
            raise Conflict(f"run already finished: {run.status}")
        approvals().cancel_requests_of_run(run.id, user, "run cancelled")
        audit.record(user, "run.cancelled", run)
        live.publish_run(run.id, Run.Status.CANCELLED)
        # A run queued behind this one on its thread may start now.
        thread_id = run.thread_id
        transaction.on_commit(lambda: thread_queue.start_next(thread_id), robust=True)
    run.refresh_from_db()
    return run


def set_agent_limits(agent_key: str, values: dict[str, Any], user: Any) -> tuple[Agent, Limits]:
    """Replace an agent's override (admins only; the caller checks the role). Fields left out
    fall back to the code's defaults; an explicit null means no limit. Audited.

    Raises:
        NotFound: no such agent. Invalid: a value is not a valid limit.
    """
    spec = get_agent(agent_key)
    if spec is None:
        raise NotFound(f"unknown agent {agent_key!r}")
    try:
        override = AgentLimitsIn.model_validate(values).model_dump(exclude_unset=True)
    except ValidationError as exc:
        raise Invalid(validation_errors(exc, "body")) from None
    for name in ("on_breach", "queue"):
        if name in override and override[name] is None:
            del override[name]
    with transaction.atomic():
        agent = Agent.objects.select_for_update().filter(key=agent_key).first()
        if agent is None:
            raise NotFound(f"agent {agent_key!r} has no row yet: run migrate")
        before = (agent.settings or {}).get("limits")
        agent.settings = {**(agent.settings or {}), "limits": override}
        agent.save(update_fields=["settings", "updated_at"])
        audit.record(user, "agent.limits_changed", agent, before=before, after=override)
    return agent, agent_limits(spec, agent)
