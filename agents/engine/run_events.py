"""A run's LangGraph stream parts, published by the worker into a per-run buffer.

A run created through the LangGraph SDK's streaming endpoints carries its stream options in
`Run.metadata["langgraph_stream"]` (`{"modes": [...], "subgraphs": bool, "resumable": bool}`).
While such a run executes, the runtime drives its graph with `graph.stream(stream_mode=[...])`
instead of `invoke`, and each part goes, already in the SDK's shape (event name and JSON data),
into the run's buffer:

- production (`STEWARD_RUN_EVENTS_URL`, Redis): a Redis stream per run, `XADD MAXLEN ~`, kept a
  day; any web process reads it (XREAD), and its entry ids are the SSE event ids a client
  rejoins from (`Last-Event-ID`);
- embedded (no URL): a ring per run in this process, where the web views run too.

Not the Channels layer: it drops messages over its capacity without a word.

The worker never waits for a client: parts go to a queue that one sender thread per process
empties in batches (one pipelined round trip for whatever accumulated). A run without stream
options is driven with `invoke`, as before, and publishes nothing.

Each execution of a run (its start, each resume) ends its parts with an `end` part (status
`success`, `interrupted`, `error`, `cancelled`), after an `error` part when it failed, published
once the run's new status is committed. A reader relays from where it started to the next `end`.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import queue
import threading
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
import redis
import redis.asyncio as aioredis
from django.conf import settings
from langchain_core.messages import BaseMessage, BaseMessageChunk, message_chunk_to_message
from pydantic import BaseModel

__all__ = [
    "END",
    "ERROR",
    "METADATA_KEY",
    "STREAM_MODES",
    "RunPublisher",
    "StreamOptions",
    "buffer",
    "encode",
    "publisher_for",
]

log = logging.getLogger(__name__)

METADATA_KEY = "langgraph_stream"
END, ERROR = "end", "error"
# The modes langgraph_sdk can ask for (langgraph_sdk.schema.StreamMode).
STREAM_MODES = frozenset(
    {
        "values",
        "updates",
        "messages",
        "messages-tuple",
        "events",
        "custom",
        "debug",
        "tasks",
        "checkpoints",
        "tools",
        "lifecycle",
    }
)
# LangGraph's own modes behind each SDK mode ("messages-tuple" and "messages" both ride on
# LangGraph's "messages"; "events" and "lifecycle" are produced here, not by LangGraph).
_NATIVE = {"messages-tuple": "messages", "events": None, "lifecycle": None}
# The statuses an execution ends with, as the SDK names them (Steward's run statuses → its own).
END_STATUS = {"succeeded": "success", "waiting": "interrupted", "failed": "error", "cancelled": "cancelled"}


@dataclass(frozen=True)
class StreamOptions:
    """What a streaming client asked for when it created (or resumed) the run."""

    modes: tuple[str, ...]
    subgraphs: bool = False
    resumable: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"modes": list(self.modes), "subgraphs": self.subgraphs, "resumable": self.resumable}

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any] | None) -> StreamOptions | None:
        stored = (metadata or {}).get(METADATA_KEY)
        if not isinstance(stored, dict) or not stored.get("modes"):
            return None
        modes = tuple(m for m in stored["modes"] if m in STREAM_MODES)
        if not modes:
            return None
        return cls(modes, bool(stored.get("subgraphs")), bool(stored.get("resumable")))

    def native_modes(self) -> list[str]:
        """The `stream_mode` list for LangGraph's `stream`."""
        native = {_NATIVE.get(m, m) for m in self.modes} - {None}
        # "updates" always: it carries the interrupts a run stops at, whatever the client asked.
        return sorted({str(m) for m in native} | {"updates"})


def unknown_modes(modes: Iterable[str]) -> list[str]:
    return [m for m in modes if m not in STREAM_MODES]


# --- JSON -------------------------------------------------------------------------------------


def _default(value: Any) -> Any:
    if isinstance(value, BaseMessage):
        return value.model_dump()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, (set, frozenset)):
        return list(value)
    if type(value).__name__ == "Interrupt" and hasattr(value, "id"):
        return {"value": value.value, "id": value.id}
    if isinstance(value, (bytes, bytearray)):
        return value.decode(errors="replace")
    return repr(value)


def encode(data: Any) -> bytes:
    """JSON for an SSE data line: messages as the SDK's dicts, unknown objects as their repr."""
    return orjson.dumps(data, default=_default, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)


# --- the buffers ------------------------------------------------------------------------------

Entry = tuple[str, str, bytes]  # (event id, event name, JSON data)


class Buffer(Protocol):
    def append(self, batch: list[tuple[str, str, bytes]]) -> None:
        """Append (run id, event, data) parts, in order."""

    def last_id(self, run_id: str) -> str:
        """The id of the run's newest part ("0-0" when none): read after it for what comes next."""

    async def read(self, run_id: str, after: str, count: int, block_ms: int) -> list[Entry]:
        """Up to `count` parts after `after`, waiting up to `block_ms` for one when none is there."""


def _key(run_id: str) -> str:
    return f"steward:run-events:{run_id}"


class RedisBuffer:
    """A Redis stream per run, capped (`XADD MAXLEN ~`) and kept a day after its last part."""

    def __init__(self, url: str, maxlen: int, ttl: int) -> None:
        self.url, self.maxlen, self.ttl = url, maxlen, ttl
        self._sync: redis.Redis | None = None
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = (
            weakref.WeakKeyDictionary()
        )

    def _client(self) -> redis.Redis:
        if self._sync is None:
            self._sync = redis.Redis.from_url(self.url)
        return self._sync

    def _aclient(self) -> aioredis.Redis:
        # One client per event loop: a redis.asyncio connection belongs to the loop that opened it.
        loop = asyncio.get_running_loop()
        if loop not in self._async:
            self._async[loop] = aioredis.Redis.from_url(self.url)
        return self._async[loop]

    def append(self, batch: list[tuple[str, str, bytes]]) -> None:
        pipe = self._client().pipeline(transaction=False)
        for run_id, event, data in batch:
            pipe.xadd(_key(run_id), {"e": event, "d": data}, maxlen=self.maxlen, approximate=True)
        for run_id in {r for r, _, _ in batch}:
            pipe.expire(_key(run_id), self.ttl)
        pipe.execute()

    def last_id(self, run_id: str) -> str:
        newest: Any = self._client().xrevrange(_key(run_id), count=1)
        return str(newest[0][0].decode()) if newest else "0-0"

    async def read(self, run_id: str, after: str, count: int, block_ms: int) -> list[Entry]:
        found: Any = await self._aclient().xread({_key(run_id): after}, count=count, block=block_ms)
        return [(i.decode(), f[b"e"].decode(), f[b"d"]) for _, entries in found for i, f in entries]


class RingBuffer:
    """The embedded mode's buffer: a bounded ring per run in this process (web and worker share it)."""

    def __init__(self, maxlen: int, max_runs: int = 1000) -> None:
        self.maxlen, self.max_runs = maxlen, max_runs
        self._lock = threading.Lock()
        self._rings: collections.OrderedDict[str, collections.deque[Entry]] = collections.OrderedDict()
        self._seq = 0
        self._waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}

    def append(self, batch: list[tuple[str, str, bytes]]) -> None:
        with self._lock:
            for run_id, event, data in batch:
                ring = self._rings.get(run_id)
                if ring is None:
                    ring = self._rings[run_id] = collections.deque(maxlen=self.maxlen)
                    while len(self._rings) > self.max_runs:
                        self._rings.popitem(last=False)
                self._rings.move_to_end(run_id)
                self._seq += 1
                ring.append((f"{self._seq}-0", event, data))
            woken = [w for r in {r for r, _, _ in batch} for w in self._waiters.pop(r, [])]
        for loop, ready in woken:
            loop.call_soon_threadsafe(ready.set)

    def last_id(self, run_id: str) -> str:
        with self._lock:
            ring = self._rings.get(run_id)
            return ring[-1][0] if ring else "0-0"

    def _after(self, run_id: str, after: str, count: int) -> list[Entry]:
        seq = int(after.split("-")[0] or 0)
        ring = self._rings.get(run_id) or ()
        return [e for e in ring if int(e[0].split("-")[0]) > seq][:count]

    async def read(self, run_id: str, after: str, count: int, block_ms: int) -> list[Entry]:
        ready = asyncio.Event()
        with self._lock:
            found = self._after(run_id, after, count)
            if found:
                return found
            self._waiters.setdefault(run_id, []).append((asyncio.get_running_loop(), ready))
        try:
            await asyncio.wait_for(ready.wait(), block_ms / 1000)
        except TimeoutError:
            pass
        with self._lock:
            return self._after(run_id, after, count)


_buffer: Buffer | None = None
_buffer_lock = threading.Lock()


def buffer() -> Buffer:
    """The process's buffer: Redis when `STEWARD_RUN_EVENTS_URL` is set, else the ring."""
    global _buffer
    with _buffer_lock:
        if _buffer is None:
            url = settings.STEWARD_RUN_EVENTS_URL
            maxlen = settings.STEWARD_RUN_EVENTS_MAXLEN
            _buffer = RedisBuffer(url, maxlen, 86_400) if url else RingBuffer(maxlen)
        return _buffer


# --- the sender thread ------------------------------------------------------------------------


class _Sender:
    """One thread per process that hands queued parts to the buffer, a batch per round trip."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[str, str, bytes]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def put(self, run_id: str, event: str, data: bytes) -> None:
        self._queue.put((run_id, event, data))
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._loop, name="run-events", daemon=True)
                    self._thread.start()

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < 500:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                buffer().append(batch)
            except Exception:  # noqa: BLE001 - a lost part must never stop the next ones
                log.exception("could not publish %d stream parts", len(batch))


_sender = _Sender()


# --- turning LangGraph's chunks into the SDK's parts ------------------------------------------


@dataclass
class RunPublisher:
    """Turns one execution's LangGraph stream chunks into SDK stream parts and queues them."""

    run_id: str
    options: StreamOptions
    _messages: dict[str, BaseMessageChunk] = field(default_factory=dict)
    error: str = ""
    error_type: str = ""

    def _put(self, event: str, data: Any) -> None:
        _sender.put(self.run_id, event, encode(data))

    def _name(self, mode: str, namespace: tuple[str, ...]) -> str:
        return f"{mode}|{'|'.join(namespace)}" if namespace and self.options.subgraphs else mode

    def started(self) -> None:
        if "lifecycle" in self.options.modes:
            self._put("lifecycle", {"event": "running", "run_id": self.run_id})

    def chunk(self, item: Any) -> None:
        """One item of `graph.stream(..., stream_mode=[...], subgraphs=True)`."""
        namespace, mode, data = item if len(item) == 3 else ((), *item)
        namespace = tuple(namespace)
        if mode == "messages":
            self._message(namespace, data)
        elif mode == "updates" and "updates" not in self.options.modes:
            return  # asked for only so that interrupts reach "values" clients
        elif mode in self.options.modes:
            self._put(self._name(mode, namespace), data)

    def _message(self, namespace: tuple[str, ...], data: Any) -> None:
        message, metadata = data
        if "messages-tuple" in self.options.modes:
            self._put(self._name("messages", namespace), [message, metadata])
        if "messages" not in self.options.modes:
            return
        # The SDK's "messages" mode: metadata once per message, then the message so far.
        mid = str(message.id)
        if isinstance(message, BaseMessageChunk):
            if mid not in self._messages:
                self._put(self._name("messages/metadata", namespace), {mid: {"metadata": metadata}})
                self._messages[mid] = message
            else:
                self._messages[mid] = self._messages[mid] + message
            self._put(
                self._name("messages/partial", namespace), [message_chunk_to_message(self._messages[mid])]
            )
        else:
            if mid not in self._messages:
                self._put(self._name("messages/metadata", namespace), {mid: {"metadata": metadata}})
            self._put(self._name("messages/complete", namespace), [message])

    def event(self, data: dict[str, Any]) -> None:
        """One item of the "events" mode (agents/engine/run_event_callbacks.py makes them)."""
        self._put("events", data)

    def interrupted_again(self, interrupts: Any) -> None:
        """The run waits again at interrupts LangGraph did not stream: the agent refused the
        answer it was resumed with (agents/engine/resume_refusal.py), so its stream raised.
        Sent as LangGraph sends a stop at an interrupt: in "updates", and in "values" too."""
        for mode in ("updates", "values"):
            self.chunk(((), mode, {"__interrupt__": tuple(interrupts)}))

    def failed(self, exc: BaseException) -> None:
        self.error, self.error_type = str(exc), type(exc).__name__

    def stopped(self, status: str | None, error: str = "") -> None:
        """After the run's new status is committed: `error` when it failed, then `end`."""
        if status is None:
            return  # no longer ours: the worker that holds the run now publishes its end
        sdk_status = END_STATUS.get(status, status)
        if "lifecycle" in self.options.modes:
            self._put(
                "lifecycle",
                {
                    "event": {"success": "completed", "error": "failed"}.get(sdk_status, sdk_status),
                    "run_id": self.run_id,
                },
            )
        if sdk_status == "error":
            self._put(
                ERROR,
                {"error": self.error_type or "RunError", "message": self.error or error or "the run failed"},
            )
        self._put(END, {"run_id": self.run_id, "status": sdk_status})


def publisher_for(run_id: uuid.UUID | str, metadata: dict[str, Any] | None) -> RunPublisher | None:
    options = StreamOptions.from_metadata(metadata)
    return RunPublisher(str(run_id), options) if options else None


def drive(
    graph: Any, command: Any, config: dict[str, Any], durability: str, events: RunPublisher | None, context: Any = None
) -> Any:
    """Run the graph to its next stop: `invoke` for a run nobody streams, else `stream`, publishing.
    `context`: the graph's run context (LangGraph's `Runtime.context`), the run's own. Returns
    invoke's output (None when streamed)."""
    if events is None:
        return graph.invoke(command, config, durability=durability, context=context)
    try:
        for item in graph.stream(
            command,
            _with_events(config, events),
            context=context,
            durability=durability,
            stream_mode=events.options.native_modes(),
            subgraphs=events.options.subgraphs,
        ):
            events.chunk(item)
    except BaseException as exc:
        events.failed(exc)
        raise
    return None


async def adrive(
    graph: Any, command: Any, config: dict[str, Any], durability: str, events: RunPublisher | None, context: Any = None
) -> None:
    """`drive` for async graphs."""
    if events is None:
        await graph.ainvoke(command, config, durability=durability, context=context)
        return
    try:
        async for item in graph.astream(
            command,
            _with_events(config, events),
            context=context,
            durability=durability,
            stream_mode=events.options.native_modes(),
            subgraphs=events.options.subgraphs,
        ):
            events.chunk(item)
    except BaseException as exc:
        events.failed(exc)
        raise


def _with_events(config: dict[str, Any], events: RunPublisher) -> dict[str, Any]:
    if "events" not in events.options.modes:
        return config
    from agents.engine.run_event_callbacks import EventsHandler

    return {**config, "callbacks": [*config.get("callbacks", []), EventsHandler(events)]}


async def relay(run_id: str, after: str, *, count: int = 100, block_ms: int = 5000) -> AsyncIterator[Entry]:
    """The run's parts after `after`, as they come, up to and including the next `end`.

    Holds at most `count` parts at a time: a slow reader makes the buffer, not this process,
    keep what it has not read yet (and the buffer is capped)."""
    source = buffer()
    while True:
        for entry in await source.read(run_id, after, count, block_ms):
            after = entry[0]
            yield entry
            if entry[1] == END:
                return


def now_ms() -> float:
    return time.time() * 1000


def iter_parts(entries: Iterable[Entry]) -> Iterator[tuple[str, Any]]:
    """(event, decoded data) of buffered parts: for tests and the bench."""
    for _, event, data in entries:
        yield event, orjson.loads(data)
