"""The channels scenario of `manage.py chaos`: open run pages that miss live events.

Each run gets a page: the real live consumer (console/web/consumers.py) behind a websocket test
client, on a channel layer that drops a share of the events on their way to it, the way a
layer over its capacity does. `PageMirror` applies the fragments the page receives as htmx
would (replace the waterfall, or append to it; the header's status), so at the end each page's
state can be compared with the database: its run's status and every span, in order.
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from channels_redis.core import RedisChannelLayer
from django.conf import settings
from django.db import connections

from agents.engine.models import Run
from agents.engine.services import start_run
from console.harness.chaos import RUN_KINDS, Harness, ScenarioResult, Tracker
from console.harness.chaos_checks import check_runs
from console.kernel import live
from console.web.consumers import LiveConsumer
from traces.recording.models import Span

__all__ = ["DroppingChannelLayer", "PageMirror", "Pages", "database_view", "dropping_layer", "run_channels_scenario"]

DROPPING_ALIAS = "chaos-dropping"
FULL_SPANS = re.compile(r'<div id="span-rows" hx-swap-oob="true">(.*?)</div>\s*$', re.S)
SPAN_ID = re.compile(r'<a id="span-(\d+)"')
STATUS = re.compile(r'id="run-status">(\w+)<')


class DroppingChannelLayer(RedisChannelLayer):
    """A Redis channel layer that loses a share of Steward's live events before a consumer sees them."""

    def __init__(self, drop: float, seed: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.drop = drop
        self.rng = random.Random(seed)
        self.delivered: dict[str, set[int]] = defaultdict(set)
        self.dropped: dict[str, set[int]] = defaultdict(set)

    async def receive(self, channel: str) -> dict[str, Any]:
        while True:
            message = await super().receive(channel)
            if message.get("type") != "steward.event":
                return message
            group, seq = str(message.get("group", "")), int(message.get("seq", 0))
            if self.rng.random() < self.drop:
                self.dropped[group].add(seq)
                continue
            self.delivered[group].add(seq)
            return message


@contextmanager
def dropping_layer(drop: float, seed: str) -> Iterator[DroppingChannelLayer]:
    """A DroppingChannelLayer on the configured Redis, for the pages opened meanwhile."""
    layer = DroppingChannelLayer(drop, seed, hosts=[settings.CHANNEL_LAYER_URL], capacity=1000)
    channel_layers.backends[DROPPING_ALIAS] = layer
    try:
        yield layer
    finally:
        channel_layers.backends.pop(DROPPING_ALIAS, None)


@dataclass
class PageMirror:
    """What an open run page shows, built from the fragments it received."""

    run_id: uuid.UUID
    status: str = ""
    span_seqs: list[int] = field(default_factory=list)
    frames: int = 0

    def apply(self, html: str) -> None:
        self.frames += 1
        status = STATUS.search(html)
        if status:
            self.status = status.group(1)
        full = FULL_SPANS.search(html)
        if full:
            self.span_seqs = [int(s) for s in SPAN_ID.findall(full.group(1))]
        elif 'hx-swap-oob="beforeend:#span-rows"' in html:
            self.span_seqs += [int(s) for s in SPAN_ID.findall(html.split('hx-swap-oob="beforeend:#span-rows"', 1)[1])]

    def matches(self, status: str, seqs: list[int]) -> bool:
        return self.status == status and self.span_seqs == seqs


def database_view(run_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[str, list[int]]]:
    """Each run's status and span numbers, in order: what a page must end up showing."""
    statuses = dict(Run.objects.filter(id__in=run_ids).values_list("id", "status"))
    seqs: dict[uuid.UUID, list[int]] = defaultdict(list)
    for run_id, seq in Span.objects.filter(run_id__in=run_ids).order_by("run_id", "seq").values_list("run_id", "seq"):
        seqs[run_id].append(seq)
    return {run_id: (statuses[run_id], seqs[run_id]) for run_id in run_ids}


class Pages:
    """Open run pages on an event loop of their own (a thread), as browsers would hold them."""

    def __init__(self, user: Any, catch_up_seconds: float | None = None) -> None:

        self.user = user
        # The page's consumer as the site serves it, only on the dropping layer (and, in tests,
        # checking for lost events more often).
        attributes: dict[str, Any] = {"channel_layer_alias": DROPPING_ALIAS}
        if catch_up_seconds is not None:
            attributes["catch_up_seconds"] = catch_up_seconds
        consumer = cast("type[LiveConsumer]", type("DroppingLiveConsumer", (LiveConsumer,), attributes))
        self.app = consumer.as_asgi()
        self.mirrors: dict[uuid.UUID, PageMirror] = {}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="chaos-pages", daemon=True)
        self.communicators: dict[uuid.UUID, WebsocketCommunicator] = {}
        self.readers: list[asyncio.Task[None]] = []

    def __enter__(self) -> Pages:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def open(self, run_id: uuid.UUID) -> PageMirror:
        """Open the run's page; what it shows, kept up to date as fragments arrive."""
        return asyncio.run_coroutine_threadsafe(self._open(run_id), self.loop).result(30)

    def reconnect(self, run_id: uuid.UUID) -> PageMirror:
        """Close the run's page and open it again, as the browser does after a lost connection."""
        asyncio.run_coroutine_threadsafe(self._disconnect(run_id), self.loop).result(30)
        return self.open(run_id)

    async def _disconnect(self, run_id: uuid.UUID) -> None:
        communicator = self.communicators.pop(run_id)
        await communicator.disconnect(timeout=10)

    async def _open(self, run_id: uuid.UUID) -> PageMirror:
        communicator = WebsocketCommunicator(self.app, f"/ws/live/?subscribe={live.run_group(run_id)}")
        # What AuthMiddlewareStack and the browser's CSRF cookie put in a page's scope; the test
        # scope's TypedDict declares neither key.
        scope = cast("dict[str, Any]", communicator.scope)
        scope["user"] = self.user
        scope["cookies"] = {"csrftoken": "chaos-page"}
        accepted, _ = await communicator.connect(timeout=10)
        if not accepted:
            raise RuntimeError(f"the live consumer refused the page of run {run_id}")
        mirror = self.mirrors[run_id] = PageMirror(run_id)
        self.communicators[run_id] = communicator
        self.readers.append(asyncio.ensure_future(self._read(communicator, mirror)))
        # Opened means drawn: the consumer's first render on connect has arrived.
        async with asyncio.timeout(10):
            while not mirror.frames:
                await asyncio.sleep(0.01)
        return mirror

    async def _read(self, communicator: WebsocketCommunicator, mirror: PageMirror) -> None:
        while True:
            output = await communicator.output_queue.get()
            if output.get("type") == "websocket.send" and output.get("text"):
                mirror.apply(output["text"])
            elif output.get("type") == "websocket.close":
                return

    async def _close(self) -> None:
        for reader in self.readers:
            reader.cancel()
        for communicator in self.communicators.values():
            try:
                await communicator.disconnect(timeout=10)
            except Exception:  # noqa: BLE001 - redis-py may answer a cancelled blocking read with a timeout
                pass
        # The consumers read the database on this loop's worker thread: close its connections.
        await database_sync_to_async(connections.close_all)()


def run_channels_scenario(harness: Harness) -> ScenarioResult:
    """Runs with an open page each; the pages lose `drop` of their events and must still end
    up showing exactly what the database holds."""
    options = harness.options
    batch = f"channels-{uuid.uuid4().hex[:6]}"
    tracker = Tracker(batch)
    sweeps: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    began = time.monotonic()
    kinds = list(RUN_KINDS)

    run_ids: list[uuid.UUID] = []
    with (
        dropping_layer(options.drop, f"{options.seed}-channels") as layer,
        harness._loops(batch, sweeps, errors, tracker),
        Pages(harness.engineer) as pages,
    ):
        for n in range(options.runs):
            kind = kinds[n % len(kinds)]
            agent, make_input = RUN_KINDS[kind]
            run = start_run(agent, make_input(batch, n), harness.engineer, metadata={"chaos": batch, "kind": kind, "n": n})
            run_ids.append(run.id)
            pages.open(run.id)
            time.sleep(options.pace)
        deadline = time.monotonic() + options.timeout
        while Run.objects.filter(id__in=run_ids, status__in=Run.ACTIVE).exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        all_done = time.monotonic()
        # Give the last events their usual delivery time, then see which pages are behind.
        time.sleep(0.5)
        at_end = database_view(run_ids)
        stale_at_end = len([r for r in run_ids if not pages.mirrors[r].matches(*at_end[r])])
        # The pages have as long as a person would wait for a stale page to correct itself.
        caught_up_at = _wait_for_pages(pages, run_ids, timeout=15.0)
        view = database_view(run_ids)
        mirrors = dict(pages.mirrors)
    connections.close_all()

    result = ScenarioResult(
        "channels", batch, f"live events dropped on the way to open run pages ({options.drop:.0%} of them)",
        check_runs(batch, harness.expected_ok_spans), sweeper=sweeps, driver_errors=errors,
        seconds=time.monotonic() - began,
    )
    matching = [run_id for run_id in run_ids if mirrors[run_id].matches(*view[run_id])]
    groups = [live.run_group(run_id) for run_id in run_ids]
    last_dropped = 0
    for group in groups:
        sent = layer.delivered[group] | layer.dropped[group]
        if sent and max(sent) in layer.dropped[group]:
            last_dropped += 1
    result.notes = {
        "pages": len(run_ids),
        "events": sum(len(layer.delivered[g]) + len(layer.dropped[g]) for g in groups),
        "events_dropped": sum(len(layer.dropped[g]) for g in groups),
        "pages_last_event_dropped": last_dropped,
        "pages_behind_after_runs": stale_at_end,
        "pages_matching": len(matching),
        "spans_in_db": sum(len(view[r][1]) for r in run_ids),
        "spans_shown": sum(len(mirrors[r].span_seqs) for r in run_ids),
        "catch_up_s": None if caught_up_at is None else round(max(0.0, caught_up_at - all_done), 3),
    }
    if len(matching) != len(run_ids):
        stale = [r for r in run_ids if r not in matching][:3]
        detail = "; ".join(
            f"{r}: page {mirrors[r].status} {len(mirrors[r].span_seqs)} spans, db {view[r][0]} {len(view[r][1])} spans"
            for r in stale
        )
        result.problems.append(f"{len(run_ids) - len(matching)} page(s) differ from the database ({detail})")
    if not result.notes["events_dropped"]:
        result.problems.append("no event was dropped: the scenario showed nothing")
    return result


def _wait_for_pages(pages: Pages, run_ids: list[uuid.UUID], timeout: float) -> float | None:
    """When every page matched the database, or None if they did not within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = database_view(run_ids)
        if all(pages.mirrors[r].matches(*view[r]) for r in run_ids):
            return time.monotonic()
        time.sleep(0.1)
    return None
