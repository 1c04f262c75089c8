"""A streaming client that stops reading costs the web process a bounded amount of memory, and
the run does not wait for it: the worker finishes, the relay waits for the client instead of
piling the run's parts up in daphne (console/kernel/daphne_backpressure.py)."""

from __future__ import annotations

import json
import socket
import time
import uuid
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_sync_client

from agents.engine.models import Run
from tests.langgraph_stream.conftest import DAPHNE_PIDS, Steward
from tests.support.stream_agents import REPORT_PART_BYTES, REPORT_PARTS
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def _open_stream_and_stop_reading(url: str, key: str) -> tuple[socket.socket, uuid.UUID]:
    """POST /runs/stream as the SDK sends it, read up to the `metadata` event, then read nothing."""
    base = url.removeprefix("http://").split("/", 1)[0]
    host, port = base.split(":")
    body = json.dumps({
        "assistant_id": "stream_bulk_report", "input": {"messages": [{"role": "user", "content": "report"}]},
        "stream_mode": ["custom"],
    }).encode()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a client that reads nothing holds little
    sock.connect((host, int(port)))
    sock.sendall(
        f"POST /langgraph/runs/stream HTTP/1.1\r\nHost: {base}\r\nX-Api-Key: {key}\r\n"
        f"Content-Type: application/json\r\nAccept: text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    received = b""
    while b'"run_id"' not in received or b"\n\n" not in received.split(b'"run_id"', 1)[1]:
        chunk = sock.recv(1024)
        assert chunk, received
        received += chunk
    assert received.startswith(b"HTTP/1.1 200"), received[:300]
    data = received.split(b"event: metadata", 1)[1].split(b"data: ", 1)[1].split(b"\n", 1)[0]
    return sock, uuid.UUID(json.loads(data)["run_id"])


def test_a_client_that_stops_reading_costs_the_web_process_a_bounded_amount(steward: Steward) -> None:
    pid = DAPHNE_PIDS[steward.url.removesuffix("/langgraph")]
    # One whole stream first: what the web process loads on its first stream is not the client's cost.
    client = get_sync_client(url=steward.url, api_key=steward.key)
    parts = list(client.runs.stream(None, "stream_chat", input={"messages": [{"role": "user", "content": "hi"}]}, stream_mode="custom"))
    assert parts[-1].event == "end", parts
    before = _rss_bytes(pid)
    sock, run_id = _open_stream_and_stop_reading(steward.url, steward.key)
    try:
        # The worker does not wait for the client: the whole report is written and the run ends.
        wait_for(lambda: Run.objects.get(id=run_id).status == Run.Status.SUCCEEDED, timeout=120)
        streamed = REPORT_PARTS * REPORT_PART_BYTES
        # Give an unbounded relay time to read the rest of the buffer into daphne, watching the peak.
        peak = before
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            peak = max(peak, _rss_bytes(pid))
            time.sleep(0.1)
        grown = peak - before
        print(f"\nstuck client: run streamed {streamed / 1e6:.0f} MB; the web process grew {grown / 1e6:.1f} MB")
        assert grown < 10_000_000, f"the web process grew {grown / 1e6:.1f} MB for a stuck client ({streamed / 1e6:.0f} MB streamed)"
    finally:
        sock.close()
    # The stuck connection did not take the server down with it.
    assert httpx.get(f"{steward.url.removesuffix('/langgraph')}/healthz", timeout=10).status_code == 200
