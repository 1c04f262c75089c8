"""The burst scenario of `manage.py chaos`: many runs started at once through a real web process.

The private Postgres is restarted with a low `max_connections` (so that a process without a
bound on its connections exhausts it for real), a daphne web process is started on it, and
`burst` clients POST /api/runs at the same moment, each on its own connection. Every answer must
be a 201 (the run was created) or a 503/429 JSON answer with Retry-After (nothing was created);
never a 5xx, never a run created behind a refusal. Then the runs must finish on the workers, the
sweeper and reviewer loops (beat's stand-ins) and the workers must not have failed on the
database, and after a burst of concurrent reads the web process must hold no more connections
than its pool allows (`pg_stat_activity`).
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from django.db import connections
from django.db.backends.postgresql.base import DatabaseWrapper as PostgresWrapper

from agents.engine.models import Run
from console.harness.chaos import RUN_KINDS, Harness, ScenarioResult, Tracker
from console.harness.chaos_checks import check_runs
from console.harness.chaos_instances import CHAOS_SETTINGS, ROOT, Instances, free_port
from console.kernel.models import ApiKey

__all__ = ["BurstOptions", "burst_report_lines", "run_burst_scenario"]

# Tells the web process's connections apart from the workers' and the driver's in pg_stat_activity.
WEB_APPLICATION_NAME = "steward-chaos-web"
# What a worker or the web process logs when the database refused it or its pool ran dry.
DATABASE_ERROR = re.compile(r"too many clients|remaining connection slots|PoolTimeout|couldn't get a connection")
# How long one client waits for its answer: far longer than any queue in front of the pool.
CLIENT_TIMEOUT = 120.0


@dataclass
class BurstOptions:
    starts: int = 200  # concurrent POST /api/runs
    reads: int = 40  # concurrent GET /api/runs, after the starts
    max_connections: int = 40  # the private Postgres' limit during the scenario
    web_connections: int = 8  # STEWARD_DB_CONNECTIONS of the web process


@dataclass
class Answers:
    """What the clients of one burst got back."""

    statuses: Counter[int] = field(default_factory=Counter)
    resets: int = 0
    client_errors: Counter[str] = field(default_factory=Counter)
    created: set[uuid.UUID] = field(default_factory=set)  # run ids answered with 201
    refusals_not_json: int = 0
    refusals_without_retry_after: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500 and status != 503)

    @property
    def refused(self) -> int:
        return self.statuses[503] + self.statuses[429]

    def record(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        with self.lock:
            self.statuses[status] += 1
            if status == 201:
                self.created.add(uuid.UUID(json.loads(body)["id"]))
            elif status in (429, 503):
                if not headers.get("Content-Type", "").startswith("application/json"):
                    self.refusals_not_json += 1
                if not headers.get("Retry-After"):
                    self.refusals_without_retry_after += 1

    def failed(self, exc: Exception) -> None:
        with self.lock:
            if isinstance(exc, (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected)):
                self.resets += 1
            else:
                self.client_errors[type(exc).__name__] += 1


def _request(port: int, method: str, path: str, key: str, body: dict[str, Any] | None, answers: Answers) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        answers.record(response.status, response.headers, response.read())
    except Exception as exc:  # noqa: BLE001 - a reset or timeout is a figure of the report
        answers.failed(exc)
    finally:
        conn.close()


def _all_at_once(count: int, port: int, method: str, key: str, request_for: Any) -> Answers:
    """`count` clients, each on its own connection, released together."""
    answers = Answers()
    barrier = threading.Barrier(count)

    def client(n: int) -> None:
        path, body = request_for(n)
        barrier.wait()
        _request(port, method, path, key, body, answers)

    threads = [threading.Thread(target=client, args=(n,), name=f"burst-client-{n}", daemon=True) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(CLIENT_TIMEOUT + 30)
    return answers


class WebProcess:
    """`daphne console.asgi:application` on the private instances, as `make web` runs it."""

    def __init__(self, instances: Instances, log_dir: Path, web_connections: int) -> None:
        self.port = free_port()
        self.log = log_dir / "web.log"
        env = instances.env(
            **CHAOS_SETTINGS,
            DATABASE_URL=f"{instances.postgres.url()}?application_name={WEB_APPLICATION_NAME}",
            STEWARD_DB_CONNECTIONS=str(web_connections),
            # The burst comes from one user: the per-user budget of run starts is not what is tested.
            STEWARD_RATE_LIMIT_PER_MINUTE="0",
        )
        daphne = str(Path(sys.executable).parent / "daphne")
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                # Twisted's listen backlog is 50: a burst beyond it had connections reset (make web sets it too).
                [daphne, "-e", f"tcp:port={self.port}:interface=127.0.0.1:backlog=1024", "console.asgi:application"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )
        self._wait_up()

    def _wait_up(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the web process exited with {self.proc.returncode}: see {self.log}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the web process did not answer /healthz within {timeout:.0f} s: see {self.log}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


class Observer:
    """The driver's own connection, opened before the burst: a web process that takes every
    connection Postgres has must not blind the figures."""

    def __init__(self, instances: Instances) -> None:
        self.conn = psycopg.connect(instances.postgres.url(), autocommit=True)

    def active_runs(self, batch: str) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM agents_run WHERE metadata->>'chaos' = %s AND status = ANY(%s)", (batch, list(Run.ACTIVE))
        ).fetchone()
        return int(row[0]) if row else 0

    def web_connections(self) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (WEB_APPLICATION_NAME,)
        ).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self.conn.close()


def _restart_postgres(instances: Instances, max_connections: int) -> None:
    """Restart the private Postgres with this limit; the driver's pool starts afresh after it
    (its connections die with the server, and its reconnection backs off while the server is down)."""
    connections.close_all()
    # Django's DatabaseWrapper.close_pool(), which django-stubs do not declare.
    pools: dict[str, Any] = PostgresWrapper.__dict__["_connection_pools"]
    pool = pools.pop("default", None)
    if pool is not None:
        pool.close()
    instances.postgres.restart_with(max_connections)


def _database_errors_logged(log_dir: Path, names: list[str]) -> int:
    count = 0
    for name in names:
        path = log_dir / name
        if path.exists():
            count += len(DATABASE_ERROR.findall(path.read_text(errors="replace")))
    return count


def run_burst_scenario(harness: Harness, burst: BurstOptions) -> ScenarioResult:
    instances = harness.instances
    if instances is None:
        raise RuntimeError("the burst scenario restarts Postgres with a low connection limit: it needs private instances")
    log_dir = harness.workers.log_dir
    worker_logs = [f"{name.split('@')[0]}.log" for name in harness.workers.procs]
    batch = f"burst-{uuid.uuid4().hex[:6]}"
    began = time.monotonic()
    key, raw_key = ApiKey.issue(harness.engineer, name=f"chaos {batch}")
    # The demo kinds only: a fan-out's tasks each take a pooled connection at once, which this
    # scenario's connection budget (Postgres at max_connections) does not count on.
    kinds = [kind for kind in RUN_KINDS if kind != "fanout"]

    def start_request(n: int) -> tuple[str, dict[str, Any]]:
        kind = kinds[n % len(kinds)]
        agent, make_input = RUN_KINDS[kind]
        return "/api/runs", {"agent": agent, "input": make_input(batch, n), "metadata": {"chaos": batch, "kind": kind, "n": n}}

    worker_errors_before = _database_errors_logged(log_dir, worker_logs)
    _restart_postgres(instances, burst.max_connections)
    observer = Observer(instances)
    sweeps: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    web: WebProcess | None = None
    try:
        web = WebProcess(instances, log_dir, burst.web_connections)
        with harness._loops(batch, sweeps, errors, Tracker(batch)):
            starts = _all_at_once(burst.starts, web.port, "POST", raw_key, start_request)
            deadline = time.monotonic() + harness.options.timeout
            while observer.active_runs(batch) and time.monotonic() < deadline:
                time.sleep(0.2)
            reads = _all_at_once(burst.reads, web.port, "GET", raw_key, lambda n: (f"/api/runs?meta=chaos={batch}", None))
            web_connections_after_reads = observer.web_connections()
    finally:
        if web is not None:
            web.stop()
        observer.close()
        _restart_postgres(instances, 200)
        key.delete()
    created = set(Run.objects.filter(metadata__chaos=batch).values_list("id", flat=True))
    result = ScenarioResult(
        "burst", batch, f"{burst.starts} concurrent POST /api/runs on Postgres max_connections={burst.max_connections}",
        check_runs(batch, harness.expected_ok_spans), sweeper=sweeps, driver_errors=errors, seconds=time.monotonic() - began,
    )
    result.notes.update(
        {
            "starts": burst.starts,
            "answers": {str(status): n for status, n in sorted(starts.statuses.items())},
            "created_201": len(starts.created),
            "refused_503_429": starts.refused,
            "server_errors_5xx": starts.server_errors,
            "resets": starts.resets,
            "client_errors": dict(starts.client_errors),
            "runs_created": len(created),
            "created_without_201": len(created - starts.created),
            "answered_201_not_created": len(starts.created - created),
            "refusals_not_json": starts.refusals_not_json,
            "refusals_without_retry_after": starts.refusals_without_retry_after,
            "worker_database_errors": _database_errors_logged(log_dir, worker_logs) - worker_errors_before,
            "loop_errors": sum(errors.values()),
            "reads": burst.reads,
            "read_server_errors_5xx": reads.server_errors,
            "read_resets": reads.resets,
            "web_pool_size": burst.web_connections,
            "web_connections_after_reads": web_connections_after_reads,
        }
    )
    result.problems.extend(_burst_problems(result.notes))
    return result


def _burst_problems(n: dict[str, Any]) -> list[str]:
    problems = []
    if n["server_errors_5xx"] or n["read_server_errors_5xx"]:
        problems.append(f"{n['server_errors_5xx']} run starts and {n['read_server_errors_5xx']} reads answered 5xx")
    if n["resets"] or n["read_resets"] or n["client_errors"]:
        problems.append(f"{n['resets'] + n['read_resets']} connections reset, client errors {n['client_errors']}")
    if n["created_without_201"] or n["answered_201_not_created"]:
        problems.append(
            f"lost runs: {n['created_without_201']} created behind a refusal, {n['answered_201_not_created']} answered 201 but absent"
        )
    if n["refusals_not_json"] or n["refusals_without_retry_after"]:
        problems.append(f"refusals not JSON {n['refusals_not_json']}, without Retry-After {n['refusals_without_retry_after']}")
    if n["worker_database_errors"] or n["loop_errors"]:
        problems.append(f"the database refused workers {n['worker_database_errors']} times, the loops {n['loop_errors']} times")
    if n["web_connections_after_reads"] > n["web_pool_size"]:
        problems.append(
            f"the web process holds {n['web_connections_after_reads']} connections after {n['reads']} reads, "
            f"more than its pool of {n['web_pool_size']}"
        )
    return problems


def burst_report_lines(result: ScenarioResult) -> list[str]:
    n = result.notes
    return [
        f"starts: {n['starts']} concurrent POST /api/runs; answers {n['answers']}; 201 {n['created_201']}, "
        f"503/429 {n['refused_503_429']}, 5xx {n['server_errors_5xx']}, connection resets {n['resets']}",
        f"runs created {n['runs_created']} vs 201 answers {n['created_201']} (created behind a refusal "
        f"{n['created_without_201']}); refusals not JSON {n['refusals_not_json']}, without Retry-After "
        f"{n['refusals_without_retry_after']}",
        f"database errors: workers {n['worker_database_errors']}, sweeper/reviewer loops {n['loop_errors']}",
        f"reads: {n['reads']} concurrent GET /api/runs, 5xx {n['read_server_errors_5xx']}; the web process then holds "
        f"{n['web_connections_after_reads']} connections (its pool: {n['web_pool_size']})",
    ]
