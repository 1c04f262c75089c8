"""The only path from sync code to browsers: events, numbered per group, sent after commit.

The websocket is a hint and the database is the truth. An event says only that something
changed; the page's consumer re-reads the database and sends fresh fragments. Each group's
events are numbered, so a consumer that sees a gap (the channel layer drops messages over its
capacity) re-reads everything, and so does every (re)connection.

Sends happen on a background thread with its own event loop: a worker's step never waits for
the channel layer, and a failure to publish never fails the write that caused it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import time
import uuid
from typing import Any

import redis
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

__all__ = ["APPROVALS_GROUP", "current_seq", "publish", "publish_now", "publish_run", "publish_throttled", "run_group"]

log = logging.getLogger(__name__)
APPROVALS_GROUP = "approvals"


def run_group(run_id: uuid.UUID | str) -> str:
    return f"run-{run_id}"


class _Sequences:
    """Per-group event numbers: in Redis when the layer is Redis (shared by every process),
    in this process otherwise (the in-memory layer only reaches this process anyway)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local: dict[str, int] = {}
        self._redis: Any = None

    def _client(self) -> Any:
        if self._redis is None:

            self._redis = redis.Redis.from_url(settings.CHANNEL_LAYER_URL)
        return self._redis

    # The next number, or 0 without taking one when nobody is in the group: most events (a
    # worker's runs, with no page open on them) then cost one round trip, not the layer's send.
    _NEXT_IF_LISTENED = (
        "if redis.call('zcard', KEYS[1]) == 0 then return 0 end "
        "local n = redis.call('incr', KEYS[2]) redis.call('expire', KEYS[2], 86400) return n"
    )

    def next_if_listened(self, group: str, group_key: bytes) -> int:
        """`next`, when someone is in the group (its members are at `group_key`: the Redis
        layer's own key, on the one Redis the layer and the numbers share); else 0. A page that
        joins later reads the database after joining, so it misses nothing skipped before."""
        return int(self._client().eval(self._NEXT_IF_LISTENED, 2, group_key, f"steward:live-seq:{group}"))

    def next(self, group: str) -> int:
        if settings.CHANNEL_LAYER_URL:
            key = f"steward:live-seq:{group}"
            # One key per run page: let it go a day after the group's last event.
            pipe = self._client().pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, 86_400)
            return int(pipe.execute()[0])
        with self._lock:
            self._local[group] = self._local.get(group, 0) + 1
            return self._local[group]

    def current(self, group: str) -> int:
        if settings.CHANNEL_LAYER_URL:
            return int(self._client().get(f"steward:live-seq:{group}") or 0)
        with self._lock:
            return self._local.get(group, 0)


_sequences = _Sequences()


def current_seq(group: str) -> int:
    return _sequences.current(group)


class _Publisher:
    """One thread per process sends every event. Throttled events (`publish_throttled`) wait
    here, not on the caller's thread: a group gets at most one every `interval` seconds, and the
    last one submitted meanwhile goes out when the interval is over."""

    def __init__(self) -> None:
        # (group, event, interval): interval 0 sends as soon as possible.
        self._queue: queue.SimpleQueue[tuple[str, dict[str, Any], float]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()
        # Used by the publisher thread only: when each throttled group last got an event, and
        # the event each waits to send (due time, event).
        self._sent_at: dict[str, float] = {}
        self._waiting: dict[str, tuple[float, dict[str, Any]]] = {}

    def submit(self, group: str, event: dict[str, Any], interval: float = 0.0) -> None:
        if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                    self._queue = queue.SimpleQueue()
                    self._pid = os.getpid()
                    self._thread = threading.Thread(target=self._run, name="steward-live", daemon=True)
                    self._thread.start()
        self._queue.put((group, event, interval))

    def _take(self, group: str, event: dict[str, Any], interval: float, batch: dict[str, dict[str, Any]], now: float) -> None:
        if interval <= 0:
            batch[group] = event
            return
        due = self._sent_at.get(group, float("-inf")) + interval
        if due <= now and group not in self._waiting:
            batch[group] = event
            self._sent_at[group] = now
        else:
            self._waiting[group] = (max(due, now), event)

    def _due(self, batch: dict[str, dict[str, Any]], now: float) -> float | None:
        """Move throttled events whose time has come into `batch`; seconds until the next one."""
        for group, (due, event) in list(self._waiting.items()):
            if due <= now:
                del self._waiting[group]
                batch.setdefault(group, event)
                self._sent_at[group] = now
        for group, sent in list(self._sent_at.items()):
            if now - sent > 60 and group not in self._waiting:
                del self._sent_at[group]  # a finished run's group: forget it
        return min((due for due, _ in self._waiting.values()), default=None)

    def _run(self) -> None:

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        layer = get_channel_layer()
        next_due: float | None = None
        while True:
            # Several changes to one group while we were busy: one event says it all, since
            # the page re-reads the database anyway.
            batch: dict[str, dict[str, Any]] = {}
            try:
                timeout = None if next_due is None else max(0.0, next_due - time.monotonic())
                item = self._queue.get(timeout=timeout)
                self._take(*item, batch, time.monotonic())
                while True:
                    self._take(*self._queue.get_nowait(), batch, time.monotonic())
            except queue.Empty:
                pass
            next_due = self._due(batch, time.monotonic())
            group_key = getattr(layer, "_group_key", None) if settings.CHANNEL_LAYER_URL else None
            for target, payload in batch.items():
                try:
                    seq = _sequences.next_if_listened(target, group_key(target)) if group_key else _sequences.next(target)
                    if seq == 0:
                        continue
                    message = {"type": "steward.event", "group": target, "seq": seq, **payload}
                    if layer is not None:
                        loop.run_until_complete(layer.group_send(target, message))
                except Exception:  # noqa: BLE001 - best effort: pages catch up from the database
                    log.warning("could not publish to %s", target, exc_info=True)


_publisher = _Publisher()


def publish_now(group: str, event: dict[str, Any]) -> None:
    _publisher.submit(group, event)


def publish_throttled(group: str, event: dict[str, Any], interval: float) -> None:
    """Send `event` to `group` now, or if the group got one less than `interval` seconds ago,
    when the interval is over (only the last event submitted meanwhile). The caller's thread
    never waits: for a run's thread, announcing spans after each step."""
    _publisher.submit(group, event, interval)


def publish(group: str, event: dict[str, Any]) -> None:
    """Send `event` to `group` after the current transaction commits (now, outside one)."""
    transaction.on_commit(lambda: publish_now(group, event))


def publish_run(run_id: uuid.UUID | str, status: str) -> None:
    publish(run_group(run_id), {"kind": "run", "run_id": str(run_id), "status": status})
