"""The per-run buffers the worker publishes into (agents/engine/run_events.py): the Redis stream
(production) and the in-process ring (embedded) answer the relay alike."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from django.conf import settings

from agents.engine.run_events import END, RedisBuffer, RingBuffer, relay

pytestmark = pytest.mark.redis


def _buffers(maxlen: int) -> list[Any]:
    return [RedisBuffer(settings.TEST_REDIS_URL, maxlen, 60), RingBuffer(maxlen)]


@pytest.mark.parametrize("kind", [0, 1], ids=["redis", "ring"])
def test_reads_after_an_id_in_order_and_the_newest_id(kind: int) -> None:
    """Parts come back in order after a given id; `last_id` is the newest, "0-0" for none."""
    source = _buffers(100)[kind]
    run = str(uuid.uuid4())
    assert source.last_id(run) == "0-0"
    source.append(
        [(run, "values", b'{"n":1}'), (run, "values", b'{"n":2}'), (str(uuid.uuid4()), "values", b"{}")]
    )
    source.append([(run, END, b"{}")])
    every = asyncio.run(source.read(run, "0-0", 10, 10))
    assert [(e, d) for _, e, d in every] == [("values", b'{"n":1}'), ("values", b'{"n":2}'), (END, b"{}")]
    after_first = asyncio.run(source.read(run, every[0][0], 10, 10))
    assert [d for _, _, d in after_first] == [b'{"n":2}', b"{}"]
    assert source.last_id(run) == every[-1][0]


@pytest.mark.parametrize("kind", [0, 1], ids=["redis", "ring"])
def test_a_waiting_reader_wakes_for_a_part_published_meanwhile(kind: int) -> None:
    """A reader blocked on an empty run gets the part appended while it waits (not at its timeout)."""
    source = _buffers(100)[kind]
    run = str(uuid.uuid4())

    async def scenario() -> list[Any]:
        reading = asyncio.ensure_future(source.read(run, "0-0", 10, 20_000))
        await asyncio.sleep(0.2)
        await asyncio.get_running_loop().run_in_executor(None, source.append, [(run, "custom", b"1")])
        return await asyncio.wait_for(reading, 10)

    assert [e for _, e, _ in asyncio.run(scenario())] == ["custom"]


def test_the_ring_keeps_the_newest_parts_of_a_run() -> None:
    """The cap holds: the oldest parts of a long run go first."""
    ring = RingBuffer(3)
    run = str(uuid.uuid4())
    ring.append([(run, "values", str(i).encode()) for i in range(10)])
    assert [d for _, _, d in asyncio.run(ring.read(run, "0-0", 10, 10))] == [b"7", b"8", b"9"]


def test_relay_stops_at_the_next_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """A relay yields the parts of one execution and stops at its `end`, not at a later one's."""
    from agents.engine import run_events

    ring = RingBuffer(100)
    monkeypatch.setattr(run_events, "_buffer", ring)
    run = str(uuid.uuid4())
    ring.append([(run, "values", b"1"), (run, END, b"{}"), (run, "values", b"2"), (run, END, b"{}")])

    async def relayed(after: str) -> list[Any]:
        return [entry async for entry in relay(run, after, block_ms=10)]

    first = asyncio.run(relayed("0-0"))
    assert [(e, d) for _, e, d in first] == [("values", b"1"), (END, b"{}")]
    second = asyncio.run(relayed(first[-1][0]))
    assert [(e, d) for _, e, d in second] == [("values", b"2"), (END, b"{}")]
