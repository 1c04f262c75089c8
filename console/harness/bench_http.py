"""`manage.py bench` over HTTP: the approval round trip (p2), runs through `POST /api/runs` (p3),
and runs through the LangGraph SDK's `runs.create` against them (p6).

Requests go to a daphne child process with a real API key (`Authorization: Bearer`), on one
kept-alive connection, as a program using the API would send them; runs execute in separate
worker processes. Times are this process's clock around the request, and the database (polled)
for when the worker's write is visible.
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from django.db import connection
from django.utils import timezone

from agents.engine.models import Run
from agents.engine.services import start_run
from approvals.models import ApprovalRequest
from console.harness.bench import BENCH_GATE, BENCH_LINEAR, BenchError, wait_finished

__all__ = ["ApiClient", "Roundtrip", "approval_roundtrips", "runs_over_http", "runs_over_sdk"]


class ApiClient:
    """JSON over one HTTP/1.1 connection, with a Bearer key."""

    def __init__(self, base: str, key: str) -> None:
        url = urlparse(base)
        self.conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=60)
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.conn.request("POST", path, body=json.dumps(body), headers=self.headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status not in (200, 201):
            raise BenchError(f"POST {path} answered {response.status}: {data[:300]!r}")
        return dict(json.loads(data))

    def close(self) -> None:
        self.conn.close()


def _wait(predicate: Callable[[], bool], timeout: float, interval: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _span_after_gate_seen(run_id: uuid.UUID) -> bool:
    # A raw query, polled every millisecond: as cheap as a query gets.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM traces_span WHERE run_id = %s AND kind = 'node' AND name = 'act'", [run_id]
        )
        return cursor.fetchone() is not None


@dataclass(frozen=True)
class Roundtrip:
    """One decision, in ms from just before its POST was sent."""

    post_ms: float  # the POST's response was read (the decision committed, the run enqueued)
    visible_ms: float  # the resumed run's first span after the gate was in the database


def approval_roundtrips(client: ApiClient, count: int, warmup: int, engineer: Any) -> list[Roundtrip]:
    """Decide `warmup + count` gate runs one at a time over HTTP; the last `count` round trips.

    All runs are started first and reach "waiting" (a worker must be consuming), so each
    decision meets an idle worker."""
    total = warmup + count
    ids = [start_run(BENCH_GATE, {"prompt": "benchmark"}, engineer, metadata={"bench": True}).id for _ in range(total)]

    def all_waiting() -> bool:
        statuses = list(Run.objects.filter(id__in=ids).values_list("status", flat=True))
        stopped = [s for s in statuses if s not in (Run.Status.QUEUED, Run.Status.RUNNING, Run.Status.WAITING)]
        if stopped:
            raise BenchError(f"a bench gate run ended {stopped[0]!r} instead of waiting for approval")
        return statuses.count(Run.Status.WAITING) == total

    _wait(all_waiting, timeout=120 + 2 * total, interval=0.05, what=f"{total} bench runs to reach the gate")
    requests = dict(
        ApprovalRequest.objects.filter(run_id__in=ids, status=ApprovalRequest.Status.PENDING).values_list("run_id", "id")
    )
    results: list[Roundtrip] = []
    for index, run_id in enumerate(ids):
        t0 = time.perf_counter()
        client.post(f"/api/approvals/{requests[run_id]}/decision", {"decision": "approve", "comment": "manage.py bench"})
        t_posted = time.perf_counter()
        deadline = t0 + 60
        while not _span_after_gate_seen(run_id):
            if time.perf_counter() > deadline:
                raise BenchError(f"run {run_id}: no span after the gate within 60 s of the decision")
            time.sleep(0.001)
        t_visible = time.perf_counter()
        if index >= warmup:
            results.append(Roundtrip(post_ms=(t_posted - t0) * 1000, visible_ms=(t_visible - t0) * 1000))
        # The run finishes before the next decision, so decisions never queue behind each other.
        _wait(
            Run.objects.filter(id=run_id, status=Run.Status.SUCCEEDED).exists,
            timeout=60,
            interval=0.002,
            what=f"run {run_id} to succeed after its approval",
        )
    return results


def runs_over_http(client: ApiClient, runs: int) -> tuple[float, list[uuid.UUID]]:
    """`runs` runs of the 10-node graph through `POST /api/runs`, sent back to back; seconds
    from the first POST to the last run's finish, and the run ids."""
    started = timezone.now()
    ids = [
        uuid.UUID(client.post("/api/runs", {"agent": BENCH_LINEAR, "input": {"prompt": "benchmark"}, "metadata": {"bench": True}})["id"])
        for _ in range(runs)
    ]
    return wait_finished(ids, started, timeout=120 + runs), ids


def runs_over_sdk(base: str, key: str, runs: int) -> tuple[float, list[uuid.UUID]]:
    """`runs` runs of the 10-node graph started as a LangGraph Platform client starts them: the
    official SDK's `runs.create` (stateless, one request each, as `POST /api/runs` is), sent back
    to back; seconds from the first request to the last run's finish, and the run ids (the SDK's
    run ids are Steward's)."""
    from langgraph_sdk import get_sync_client

    client = get_sync_client(url=f"{base}/langgraph", api_key=key)
    started = timezone.now()
    ids: list[uuid.UUID] = []
    for _ in range(runs):
        run = client.runs.create(None, BENCH_LINEAR, input={"prompt": "benchmark"}, metadata={"bench": True})
        ids.append(uuid.UUID(str(run["run_id"])))
    return wait_finished(ids, started, timeout=120 + runs), ids
