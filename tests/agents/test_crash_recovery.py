"""A worker killed with SIGKILL mid-run: the run finishes elsewhere, nothing is refunded twice,
and no span of a checkpointed step is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.demo.models import Refund
from agents.engine.models import Run
from agents.engine.services import start_run
from agents.engine.sweeper import sweep
from tests.support.processes import WORKER_PROCESS, server_env, start_process, stop_process
from tests.support.waiting import wait_for
from traces.recording.models import Span

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]


def _worker_env(marker: Path) -> dict[str, str]:
    return server_env(STEWARD_LEASE_SECONDS="2", STEWARD_TEST_PAUSE_MARKER=str(marker))


@pytest.fixture
def start_worker_process(tmp_path: Path, purge_broker: None) -> Iterator[Any]:
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = start_process(
            WORKER_PROCESS,
            _worker_env(tmp_path / "paused"),
            tmp_path / f"worker{len(procs)}.log",
        )
        procs.append(proc)
        return proc

    start.marker = tmp_path / "paused"  # type: ignore[attr-defined]
    yield start
    for proc in procs:
        stop_process(proc)


def test_sigkill_mid_run_finishes_once_with_every_span(start_worker_process: Any, engineer: Any) -> None:
    """Kill -9 the worker after the refund committed but before its step's checkpoint: a second
    worker finishes the run from the last checkpoint, the ledger keeps the refund single, and
    every node has exactly one recorded span."""
    first = start_worker_process()
    order = f"K-{uuid.uuid4().hex[:8]}"
    run = start_run("pay_steps", {"order_id": order, "amount": 42, "pause_seconds": 60}, engineer)

    wait_for(lambda: start_worker_process.marker.exists(), timeout=60)
    assert Refund.objects.filter(order_id=order).count() == 1
    # The steps before the crash were checkpointed, and their spans with them.
    assert sorted(Span.objects.filter(run=run, kind="node").values_list("name", flat=True)) == ["a", "b"]

    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    assert Run.objects.get(id=run.id).status == "running"

    start_worker_process()

    def finished() -> bool:
        sweep()  # the beat task's job: re-queue the run once its lease expired
        return Run.objects.get(id=run.id).status in Run.FINISHED

    wait_for(finished, timeout=60, interval=0.5)
    run.refresh_from_db()
    assert run.status == "succeeded", (run.error, run.error_traceback)
    assert run.attempts == 2
    assert Refund.objects.filter(order_id=order).count() == 1
    nodes = list(Span.objects.filter(run=run, kind="node").order_by("seq").values_list("name", "status"))
    assert nodes == [("a", "ok"), ("b", "ok"), ("pay", "ok"), ("c", "ok"), ("d", "ok")]
    refund_id = Refund.objects.get(order_id=order).id
    assert run.output == {"log": ["a", "b", f"pay:{refund_id}", "c", "d"]}
