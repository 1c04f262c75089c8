"""The LangGraph SDK's streaming endpoints (Server-Sent Events), relaying the worker's parts.

The worker publishes each run's stream parts into the run's buffer (agents/engine/run_events.py);
these async views relay them, as `langgraph_sdk` reads them (its sse.py and _async/http.py):

- `metadata` first (`{"run_id", "attempt"}`), then the parts in order, then `end` (after `error`
  when the run failed); `Content-Location: /threads/{thread_id}/runs/{run_id}` names the run;
- a run created with `stream_resumable=True` gets an `id:` on each part and
  `Location: /threads/{thread_id}/runs/{run_id}/stream`, where the SDK reconnects with
  `Last-Event-ID` and gets what it missed, from any web process (the buffer is Redis);
- a client that goes away stops only its relay, unless it asked `on_disconnect="cancel"`;
- a relay holds one batch of parts at a time and reads the next only once the ASGI server took
  it; under daphne, only once the socket took all but 256 KB (console/kernel/daphne_backpressure.py),
  so a client that stops reading costs its connection a bounded amount (docs/langgraph-streaming.md).

The SDK's newer thread endpoints (`/threads/{id}/commands`, `/threads/{id}/stream/events`) are not
implemented: they answer 404 with a detail saying so (docs/langgraph-api.md).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from agents.engine import run_events
from agents.engine.models import Run
from agents.engine.services import cancel_run
from console.kernel.errors import NotFound, StewardError
from console.langgraph_api.auth import READ, WRITE, authenticate
from console.langgraph_api.stream_runs import start_streamed

__all__ = ["join_stream", "not_implemented", "stateless_run_stream", "thread_run_stream"]

log = logging.getLogger(__name__)
# How long a relay waits on the buffer before it looks at the run's row (and sends a heartbeat).
IDLE_MS = 2000
_ACTIVE = (Run.Status.QUEUED, Run.Status.RUNNING)
_PART_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")


def _error(status: int, detail: Any) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)


def frame(event: str, data: bytes, event_id: str | None = None) -> bytes:
    """One SSE message: `event:`, `data:` (one line of JSON), `id:` when the run is resumable."""
    return (
        b"event: "
        + event.encode()
        + b"\ndata: "
        + data
        + b"\n"
        + (b"id: " + event_id.encode() + b"\n" if event_id else b"")
        + b"\n"
    )


def _options(body: dict[str, Any]) -> run_events.StreamOptions:
    """The stream options of a request body. Raises Invalid (422) for a mode that does not exist."""
    modes = body.get("stream_mode") or ["values"]
    modes = [modes] if isinstance(modes, str) else modes
    if not isinstance(modes, list) or not all(isinstance(m, str) for m in modes):
        raise StewardError("stream_mode must be a string or a list of strings")
    unknown = run_events.unknown_modes(modes)
    if unknown:
        known = ", ".join(sorted(run_events.STREAM_MODES))
        raise _Unprocessable(f"unknown stream mode {', '.join(map(repr, unknown))}; the modes are: {known}")
    return run_events.StreamOptions(
        tuple(dict.fromkeys(modes)), bool(body.get("stream_subgraphs")), bool(body.get("stream_resumable"))
    )


class _Unprocessable(StewardError):
    status = 422


def _body(request: HttpRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise StewardError("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise StewardError("the body must be a JSON object")
    return body


def _start(request: HttpRequest, thread_id: str | None) -> tuple[Any, run_events.StreamOptions, Any, bool]:
    body = _body(request)
    # A resume is a decision: whoever may read runs may send one, and approvals checks that
    # they may decide each interrupt (a reviewer of its queue, never the run's requester).
    user = authenticate(request, READ if body.get("command") else WRITE)
    options = _options(body)
    started = start_streamed(user, thread_id, body, options)
    return user, options, started, body.get("on_disconnect") == "cancel"


async def _stream_new_run(
    request: HttpRequest, thread_id: str | None
) -> HttpResponse | StreamingHttpResponse:
    try:
        user, options, started, cancel = await sync_to_async(_start)(request, thread_id)
    except StewardError as exc:
        return _error(exc.status, exc.detail)
    run = started.run
    parts = _relay(run, started.after, options.resumable, cancel_as=user if cancel else None)
    response = _sse(_with_metadata(run, parts))
    response["Content-Location"] = (
        f"/threads/{run.thread_id}/runs/{run.id}" if thread_id else f"/runs/{run.id}"
    )
    if options.resumable:
        response["Location"] = f"/threads/{run.thread_id}/runs/{run.id}/stream"
    return response


@csrf_exempt
@require_POST
async def thread_run_stream(request: HttpRequest, thread_id: str) -> HttpResponse | StreamingHttpResponse:
    """POST /threads/{thread_id}/runs/stream: start (or, with `command`, resume) a run and stream it."""
    return await _stream_new_run(request, thread_id)


@csrf_exempt
@require_POST
async def stateless_run_stream(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """POST /runs/stream: a run on a thread of its own, streamed."""
    return await _stream_new_run(request, None)


def _joined(
    request: HttpRequest, thread_id: str, run_id: str
) -> tuple[Run, Any, run_events.StreamOptions | None, str]:
    user = authenticate(request, READ)
    run = (
        Run.objects.visible_to(user).filter(id=run_id, thread_id=thread_id).first()
        if _is_uuid(run_id)
        else None
    )
    if run is None:
        raise NotFound(f"run {run_id} not found on thread {thread_id}")
    options = run_events.StreamOptions.from_metadata(run.metadata)
    last = request.headers.get("Last-Event-ID", "").strip()
    if last and not _PART_ID.fullmatch(last):
        raise StewardError(
            f"Last-Event-ID {last[:40]!r} is not an id of this stream (they look like 1733580000000-0)"
        )
    # Without an id the client gets what comes next (the SDK's join_stream: "not buffered").
    return run, user, options, last or run_events.buffer().last_id(str(run.id))


def _only(request: HttpRequest) -> frozenset[str] | None:
    """The part names a join asked for (`stream_mode`, a subset of the run's), None for all."""
    modes = [m for m in request.GET.getlist("stream_mode") if m]  # the SDK sends an empty one for None
    if not modes:
        return None
    unknown = run_events.unknown_modes(modes)
    if unknown:
        known = ", ".join(sorted(run_events.STREAM_MODES))
        raise _Unprocessable(f"unknown stream mode {', '.join(map(repr, unknown))}; the modes are: {known}")
    names = {run_events.END, run_events.ERROR}
    for mode in modes:
        if mode == "messages-tuple":
            names.add("messages")
        elif mode == "messages":
            names.update({"messages/metadata", "messages/partial", "messages/complete"})
        else:
            names.add(mode)
    return frozenset(names)


@csrf_exempt
@require_GET
async def join_stream(
    request: HttpRequest, thread_id: str, run_id: str
) -> HttpResponse | StreamingHttpResponse:
    """GET /threads/{thread_id}/runs/{run_id}/stream: join a run's stream (`Last-Event-ID` replays)."""
    try:
        run, user, options, after = await sync_to_async(_joined)(request, thread_id, run_id)
        only = _only(request)
    except StewardError as exc:
        return _error(exc.status, exc.detail)
    cancel = request.GET.get("cancel_on_disconnect", "").lower() == "true"
    resumable = bool(options and options.resumable)
    return _sse(_relay(run, after, resumable, cancel_as=user if cancel else None, only=only))


@csrf_exempt
async def not_implemented(request: HttpRequest, thread_id: str) -> HttpResponse:
    """The SDK's newer thread endpoints: not served by Steward (yet); a clear 404, never a hang."""
    return _error(
        404,
        f"{request.path} is not implemented by Steward: stream runs with POST /threads/{{thread_id}}/runs/stream "
        "and rejoin them with GET /threads/{thread_id}/runs/{run_id}/stream (docs/langgraph-api.md)",
    )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _sse(parts: AsyncIterator[bytes]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(parts, content_type="text/event-stream")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # no proxy buffering: parts go out as they come
    return response


async def _with_metadata(run: Run, parts: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield frame("metadata", run_events.encode({"run_id": str(run.id), "attempt": 1}))
    async for part in parts:
        yield part


def _status(run_id: Any) -> str | None:
    status = Run.objects.filter(id=run_id).values_list("status", flat=True).first()
    close_old_connections()
    return status


async def _relay(
    run: Run, after: str, resumable: bool, cancel_as: Any = None, only: frozenset[str] | None = None
) -> AsyncIterator[bytes]:
    """The run's parts after `after` up to its next `end`, as SSE messages (those named in `only`,
    subgraph parts by their mode). A run that stopped without an `end` (no stream options, or its
    worker died) gets one from its row."""
    run_id, finished, idle_since_stop = str(run.id), False, 0
    try:
        while True:
            entries = await run_events.buffer().read(run_id, after, 100, IDLE_MS)
            for event_id, event, data in entries:
                after = event_id
                if only is not None and event.split("|")[0] not in only:
                    continue
                yield frame(event, data, event_id if resumable else None)
                if event == run_events.END:
                    finished = True
                    return
            if entries:
                continue
            yield b": heartbeat\n\n"
            status = await sync_to_async(_status)(run.id)
            if status in _ACTIVE:
                idle_since_stop = 0
                continue
            # Stopped: the worker's last parts may still be on their way; one more idle wait.
            idle_since_stop += 1
            if idle_since_stop >= 2:
                sdk_status = run_events.END_STATUS.get(status or "", "error")
                finished = True
                yield frame(run_events.END, run_events.encode({"run_id": run_id, "status": sdk_status}))
                return
    finally:
        if not finished and cancel_as is not None:
            # The client went away and asked for the run to stop with it. In a thread of its
            # own: this generator is being closed and may not wait.
            threading.Thread(target=_cancel, args=(run.id, cancel_as), daemon=True).start()


def _cancel(run_id: Any, user: Any) -> None:
    try:
        run = Run.objects.filter(id=run_id).first()
        if run is not None and run.status in (*_ACTIVE, Run.Status.WAITING):
            cancel_run(run, user)
    except StewardError as exc:
        log.info("run %s: not cancelled on disconnect: %s", run_id, exc.detail)
    finally:
        close_old_connections()
