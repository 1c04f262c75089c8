"""How a streaming request starts or resumes its run, and where its relay starts reading.

`start_streamed` is the one seam between the stream endpoints (console/langgraph_api/streaming.py)
and run creation: a minimal path on agents.engine.services (start) and approvals.services
(`decide`, for a `command` resume), meant to be replaced by the full run creation of
console/langgraph_api/runs.py (multitask strategies, checkpoints, the rules of a resume) when
the two branches meet. Whatever creates the run must store the stream options on it in the
same transaction (`with_stream_options`), so the worker publishes from its first step.
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
    """Store what the client streams on the run (read by the worker: agents/engine/run_events.py)."""
    run.save_metadata({**(run.metadata or {}), METADATA_KEY: options.as_dict()})


def start_streamed(user: Any, thread_id: str | None, body: dict[str, Any], options: StreamOptions) -> Started:
    """Start a run of `body["assistant_id"]` (on `thread_id`, or a thread of its own), or resume
    the thread's interrupted run with `body["command"]`, streaming `options`.

    Raises:
        NotFound: no such assistant. Conflict: nothing to resume. Invalid: bad input or command.
    """
    command = body.get("command")
    if command:
        if thread_id is None:
            raise Invalid(
                [
                    {
                        "loc": ["body", "command"],
                        "msg": "a command resumes a thread's run: use /threads/{thread_id}/runs/stream",
                        "type": "value_error",
                    }
                ]
            )
        return _resume(user, thread_id, command, options)
    assistant = str(body.get("assistant_id") or "")
    if not assistant:
        raise Invalid([{"loc": ["body", "assistant_id"], "msg": "Field required", "type": "missing"}])
    with transaction.atomic():
        run = start_run(assistant, body.get("input") or {}, user, metadata=body.get("metadata"))
        if thread_id is not None:
            Run.objects.filter(id=run.id).update(thread_id=thread_id)
            run.thread_id = thread_id
        with_stream_options(run, options)
    return Started(run, "0-0")


def _resume(user: Any, thread_id: str, command: dict[str, Any], options: StreamOptions) -> Started:
    if "resume" not in command:
        raise Invalid(
            [
                {
                    "loc": ["body", "command"],
                    "msg": "only Command(resume=...) is supported here",
                    "type": "value_error",
                }
            ]
        )
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
    after = buffer().last_id(str(run.id))
    with transaction.atomic():
        with_stream_options(run, options)
        for request, value in pairs:
            # A resume is a decision like any other: approvals checks who may take it.
            if isinstance(value, dict) and "decision" in value:
                approvals.decide(request.id, user, **value)
            else:
                approvals.decide(request.id, user, "answer", value=value)
    run.refresh_from_db()
    return Started(run, after)
