"""The embedded default under concurrent load: SQLite, the memory broker and the worker thread in
one real server process (`make demo`), with many runs and decisions at once. Django's connection
and the checkpointer's both write to the one SQLite file; a writer must wait its turn, never fail
with "database is locked" (which sent `make demo` runs to the dead-letter list)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.support.http_api import Http
from tests.support.processes import (
    free_port,
    fresh_django,
    fresh_env,
    start_process,
    stop_process,
    wait_until_up,
)
from tests.support.waiting import wait_for

RUNS = 20  # half over 100 (they wait for approval), half at most 100 (they run straight through)
DECISIONS = RUNS // 2


# migrate, the demo's users and agents, and an API key each for the engineer and the reviewer,
# in one process: every fresh Django process costs seconds of start-up.
_PREPARE = """
import io
import django
django.setup()
from django.core.management import call_command
call_command("migrate", "--noinput", verbosity=0)
call_command("seed_demo", stdout=io.StringIO())
for user in ("engineer", "reviewer"):
    out = io.StringIO()
    call_command("create_api_key", user, stdout=out)
    print(out.getvalue().strip().splitlines()[-1])
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, list[str], Path]]:
    env = fresh_env(
        without=("DATABASE_URL", "CELERY_BROKER_URL", "CHANNEL_LAYER_URL"),
        STEWARD_VAR_DIR=str(tmp_path),
        STEWARD_AGENT_MODULES="",
        # The test polls the API far more than a person would; the per-key budget is not under test.
        STEWARD_RATE_LIMIT_PER_MINUTE="0",
    )
    prepared = fresh_django("-c", _PREPARE, env=env)
    assert prepared.returncode == 0, prepared.stderr
    port = free_port()
    log = tmp_path / "server.log"
    process = start_process(["manage.py", "serve_embedded", "--port", str(port)], env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, process)
        yield base, prepared.stdout.split(), log
    finally:
        stop_process(process, grace=20)


def _refund(index: int) -> dict[str, Any]:
    amount = 250 + index if index < DECISIONS else 40 + index
    return {"agent": "refund", "input": {"order_id": f"C-{index}", "amount": amount, "reason": "arrived broken"}}


def _runs_by_status(http: Http) -> dict[str, str]:
    status, page = http.call("GET", "/api/runs?agent=refund&limit=200")
    assert status == 200, page
    return {run["id"]: run["status"] for run in page["items"]}


def test_concurrent_runs_and_decisions_all_succeed(server: tuple[str, list[str], Path]) -> None:
    base, (engineer_key, reviewer_key), log = server
    engineer, reviewer = Http(base, engineer_key), Http(base, reviewer_key)

    with ThreadPoolExecutor(max_workers=RUNS) as pool:
        started = list(pool.map(lambda i: engineer.call("POST", "/api/runs", _refund(i)), range(RUNS)))
    assert [status for status, _ in started] == [201] * RUNS, started
    run_ids = {run["id"] for _, run in started}

    def stopped() -> dict[str, str] | None:
        runs = _runs_by_status(engineer)
        return runs if all(runs.get(i) not in ("queued", "running") for i in run_ids) else None

    runs = wait_for(stopped, timeout=45, interval=0.2)
    over_100 = {run["id"] for i, (_, run) in enumerate(started) if i < DECISIONS}
    assert {i: runs[i] for i in run_ids} == {i: "waiting" if i in over_100 else "succeeded" for i in run_ids}
    status, page = reviewer.call("GET", "/api/approvals?status=pending&limit=100")
    assert status == 200, page
    requests = page["items"]
    assert {a["run_id"] for a in requests} == over_100
    with ThreadPoolExecutor(max_workers=DECISIONS) as pool:
        decided = list(pool.map(
            lambda a: reviewer.call("POST", f"/api/approvals/{a['id']}/decision", {"decision": "approve"}), requests
        ))
    assert [status for status, _ in decided] == [200] * DECISIONS, decided
    assert {body["status"] for _, body in decided} == {"approved"}

    def settled() -> dict[str, str] | None:
        runs = _runs_by_status(engineer)
        return runs if all(runs.get(i) not in ("queued", "running", "waiting") for i in run_ids) else None

    runs = wait_for(settled, timeout=45, interval=0.2)
    assert {i: runs[i] for i in run_ids} == {i: "succeeded" for i in run_ids}
    status, letters = engineer.call("GET", "/api/dead-letters")
    assert status == 200 and letters["items"] == [], letters
    assert "database is locked" not in log.read_text()
