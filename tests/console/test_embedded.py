"""The embedded default end to end: `make demo`'s settings (SQLite, memory broker, worker thread)
in a real server process, driven over HTTP like a user's program would."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.embedded import embedded_env, embedded_server, manage
from tests.support.http_api import Http
from tests.support.processes import (
    ROOT,
)
from tests.support.waiting import wait_for


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    env = embedded_env(tmp_path)
    manage(env, "migrate", "--noinput")
    assert "admin, admin2, reviewer, engineer" in manage(env, "seed_demo")
    with embedded_server(env, tmp_path / "server.log") as base:
        yield base, env
    assert (tmp_path / "steward.sqlite3").exists()


def test_embedded_refund_loop_and_run_agent_beside_it(embedded: tuple[str, dict[str, str]]) -> None:
    """Demo users and agents exist; a refund over 100 waits, the reviewer approves, it succeeds;
    `manage.py run_agent` in another process queues a run that the server's sweeper picks up."""
    base, env = embedded
    engineer = Http(base, manage(env, "create_api_key", "engineer").strip().splitlines()[-1])
    reviewer = Http(base, manage(env, "create_api_key", "reviewer").strip().splitlines()[-1])

    with urllib.request.urlopen(base + "/readyz", timeout=5) as response:
        assert json.loads(response.read())["status"] == "ready"

    status, run = engineer.call("POST", "/api/runs", {"agent": "refund", "input": {"order_id": "A-1001", "amount": 250, "reason": "arrived broken"}})
    assert status == 201, run
    wait_for(lambda: engineer.call("GET", f"/api/runs/{run['id']}")[1]["status"] == "waiting", interval=0.2)
    _, pending = reviewer.call("GET", "/api/approvals?status=pending")
    request = next(a for a in pending["items"] if a["run_id"] == run["id"])
    status, decided = reviewer.call("POST", f"/api/approvals/{request['id']}/decision", {"decision": "approve"})
    assert status == 200 and decided["status"] == "approved"
    wait_for(lambda: engineer.call("GET", f"/api/runs/{run['id']}")[1]["status"] == "succeeded", interval=0.2)

    out = manage(env, "run_agent", "order_summary", "--input", '{"customer_id": "C-7"}', "--user", "engineer")
    other_id = out.split()[1]
    wait_for(lambda: engineer.call("GET", f"/api/runs/{other_id}")[1]["status"] == "succeeded", interval=0.2)
    _, steps = engineer.call("GET", f"/api/runs/{other_id}/steps")
    assert [s["kind"] for s in steps].count("model") == 3 and [s["kind"] for s in steps].count("tool") == 2


def test_run_agent_wait_runs_to_completion_alone(tmp_path: Path) -> None:
    """Without a server, `run_agent --wait` runs the run in its own process to the end."""
    env = embedded_env(tmp_path)
    manage(env, "migrate", "--noinput")
    out = manage(env, "run_agent", "refund", "--input", '{"order_id": "A-7", "amount": 40, "reason": "late"}', "--wait")
    assert "succeeded" in out and "refunded on order A-7" in out


def test_a_busy_port_fails_fast_naming_the_port(tmp_path: Path) -> None:
    """`make demo` on a port another server holds: no "Steward is serving" announcement, a message
    naming the port and how to pick another, and a non-zero exit (it used to exit 0 after
    announcing the server and logging daphne's "Listen failure")."""
    import socket

    env = embedded_env(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "manage.py", "serve_embedded", "--port", str(port)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
        )
    assert done.returncode != 0, (done.stdout, done.stderr)
    assert "Steward is serving" not in done.stdout
    assert f"port {port} is already in use" in done.stderr
    assert "make demo PORT=8001" in done.stderr
