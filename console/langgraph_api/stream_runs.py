"""How a streaming request starts or resumes its run, and where its relay starts reading.

`start_streamed` is what the stream endpoints (console/langgraph_api/streaming.py) call. Runs
start and resume through console/langgraph_api/runs.py's `start_or_resume`, as `runs.create`
does (multitask strategies, the rules of a resume, the budgets).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from agents.engine.models import Run
from agents.engine.run_events import METADATA_KEY, StreamOptions, buffer
from console.langgraph_api.runs import start_or_resume

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
