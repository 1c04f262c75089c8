"""How a streaming request starts or resumes its run, and where its relay starts reading.

`start_streamed` is what the stream endpoints (console/langgraph_api/streaming.py) call. Its one
call to `start_or_resume` is the seam with run creation: below is a minimal stand-in on
agents.engine.services (start) and approvals.services (`decide`, for a `command` resume), with
the interface of console/langgraph_api/runs.py's `start_or_resume(user, thread_id, body) -> Run`
(multitask strategies, checkpoints, the rules of a resume), which replaces it when the branches
meet: import that one and delete the stand-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from agents.engine.models import Run
from agents.engine.run_events import METADATA_KEY, StreamOptions, buffer
from agents.engine.services import start_run
from approvals import services as approvals
from approvals.models import ApprovalRequest
from console.kernel.errors import Conflict, Invalid, NotFound

__all__ = ["Started", "start_streamed", "with_stream_options"]


@dataclass(frozen=True)
class Started:
    run: Run
    # The relay reads the run's buffer after this id: nothing of an earlier execution.
    after: str


def with_stream_options(run: Run, options: StreamOptions) -> None:
    """Store what the client streams on the run (read by the worker: agents/engine/run_events.py),
    over the metadata as it is in the row (the run's creation or a decision may have just written it)."""
    current = Run.objects.select_for_update().values_list("metadata", flat=True).get(id=run.id)
    run.save_metadata({**(current or {}), METADATA_KEY: options.as_dict()})


def start_streamed(user: Any, thread_id: str | None, body: dict[str, Any], options: StreamOptions) -> Started:
    """Start a run of `body["assistant_id"]` (on `thread_id`, or a thread of its own), or resume
    the thread's interrupted run with `body["command"]`, streaming `options`. In one transaction:
    the worker gets the run once the options are on it, and the relay starts after what the
    run's buffer held before (an earlier execution's parts are not this request's).

    Raises:
        NotFound: no such assistant. Conflict: nothing to resume. Invalid: bad input or command.
        Forbidden: the caller may not start runs, or may not decide the interrupt.
    """
    with transaction.atomic():
        run = start_or_resume(user, thread_id, body)
        after = buffer().last_id(str(run.id))
        with_stream_options(run, options)
    return Started(run, after)


# --- the stand-in for console/langgraph_api/runs.py `start_or_resume` --------------------------


def start_or_resume(user: Any, thread_id: str | None, body: dict[str, Any]) -> Run:
    """A minimal start or resume, in the caller's transaction (the worker gets it on commit)."""
    command = body.get("command")
    if command:
        if thread_id is None:
            msg = "a command resumes a thread's run: use /threads/{thread_id}/runs/stream"
            raise Invalid([{"loc": ["body", "command"], "msg": msg, "type": "value_error"}])
        return _resume(user, thread_id, command)
    assistant = str(body.get("assistant_id") or "")
    if not assistant:
        raise Invalid([{"loc": ["body", "assistant_id"], "msg": "Field required", "type": "missing"}])
    run = start_run(assistant, body.get("input") or {}, user, metadata=body.get("metadata"))
    if thread_id is not None:
        Run.objects.filter(id=run.id).update(thread_id=thread_id)
        run.thread_id = thread_id
    return run


def _resume(user: Any, thread_id: str, command: dict[str, Any]) -> Run:
    if "resume" not in command:
        msg = "only Command(resume=...) is supported here"
        raise Invalid([{"loc": ["body", "command"], "msg": msg, "type": "value_error"}])
    run = Run.objects.filter(thread_id=thread_id, status=Run.Status.WAITING).order_by("-created_at").first()
    if run is None:
        if not Run.objects.filter(thread_id=thread_id).exists():
            raise NotFound(f"thread {thread_id} not found")
        raise Conflict(f"thread {thread_id} has no interrupted run to resume")
    pending = list(
        ApprovalRequest.objects.filter(run=run, status=ApprovalRequest.Status.PENDING).order_by("created_at")
    )
    if not pending:
        raise Conflict(f"run {run.id} has no pending interrupt")
    resume = command["resume"]
    by_id = {r.interrupt_id: r for r in pending}
    if isinstance(resume, dict) and resume and set(resume) <= set(by_id):
        pairs = [(by_id[i], v) for i, v in resume.items()]
    else:
        pairs = [(pending[0], resume)]
    for request, value in pairs:
        # A resume is a decision like any other: approvals checks who may take it.
        if isinstance(value, dict) and "decision" in value:
            approvals.decide(request.id, user, **value)
        else:
            approvals.decide(request.id, user, "answer", value=value)
    return run
