"""kill -9 during a `Send` fan-out step: the tasks that finished before the crash are not run
again (each committed its writes, with its span, as it finished), the one that was running is,
and the run finishes once with one span per task."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.engine.models import Run
from agents.engine.services import start_run
from agents.engine.sweeper import sweep
from tests.support.processes import WORKER_PROCESS, server_env, start_process, stop_process
from tests.support.waiting import wait_for
from traces.recording.models import Span

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def fanout_worker(tmp_path: Path, purge_broker: None) -> Iterator[Any]:
    procs: list[subprocess.Popen[bytes]] = []
    env = {
        **server_env(STEWARD_LEASE_SECONDS="2", FANOUT_LOG=str(tmp_path / "executions.log"), FANOUT_PAUSED=str(tmp_path / "paused")),
        "STEWARD_AGENT_MODULES": "tests.support.graphs,tests.support.fanout_graphs",
    }

    def start() -> subprocess.Popen[bytes]:
        proc = start_process(
            WORKER_PROCESS,
            env,
            tmp_path / f"worker{len(procs)}.log",
        )
        procs.append(proc)
        return proc

    start.paths = tmp_path  # type: ignore[attr-defined]
    yield start
    for proc in procs:
        stop_process(proc)


def test_sigkill_during_a_fan_out_reruns_only_the_unfinished_task(fanout_worker: Any, engineer: Any) -> None:
    # Registered in the workers only; the test process needs the agent's row and schema.
    import tests.support.fanout_graphs  # noqa: F401

    paths: Path = fanout_worker.paths
    first = fanout_worker()
    run = start_run("fanout_parts", {"items": ["a", "b", "c"], "pause_item": "c", "pause_seconds": 60}, engineer)

    wait_for(lambda: (paths / "paused").exists(), timeout=60)
    # a and b finished while c runs: each task's span is in the database, committed with its writes.
    wait_for(
        lambda: sorted(Span.objects.filter(run=run, kind="node", name="part").values_list("status", flat=True))
        == ["ok", "ok"],
        timeout=30,
    )
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)

    fanout_worker()

    def finished() -> bool:
        sweep()  # the beat task's job: re-queue the run once its lease expired
        return Run.objects.get(id=run.id).status in Run.FINISHED

    wait_for(finished, timeout=60, interval=0.5)
    run.refresh_from_db()
    assert run.status == "succeeded", (run.error, run.error_traceback)
    assert run.attempts == 2
    assert run.output == {"done": ["a", "b", "c"]}
    executions = (paths / "executions.log").read_text().split()
    assert sorted(executions) == ["a", "b", "c", "c"]
    parts = Span.objects.filter(run=run, kind="node", name="part", status="ok")
    assert parts.count() == 3


def test_fan_out_tasks_give_their_database_connections_back(tmp_path: Path, purge_broker: None, engineer: Any) -> None:
    """Tasks of a fan-out use the ORM on LangGraph's threads: each gives its pooled connection
    back when it ends, so a worker with a pool of two runs fan-outs of four, one after another."""
    import tests.support.fanout_graphs  # noqa: F401

    env = {
        **server_env(STEWARD_DB_CONNECTIONS="2", STEWARD_DB_POOL_TIMEOUT="3"),
        "STEWARD_AGENT_MODULES": "tests.support.graphs,tests.support.fanout_graphs",
    }
    worker = start_process(
        WORKER_PROCESS,
        env,
        tmp_path / "worker.log",
    )
    try:
        for _ in range(3):
            run = start_run("fanout_orm", {"parts": 4}, engineer)
            wait_for(lambda run=run: Run.objects.get(id=run.id).status in Run.FINISHED, timeout=60, interval=0.2)
            run.refresh_from_db()
            assert run.status == "succeeded", (run.error, (tmp_path / "worker.log").read_text()[-2000:])
            assert run.output == {"seen": [0, 1, 2, 3]}
    finally:
        stop_process(worker)
