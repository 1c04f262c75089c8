"""`manage.py chaos`: real workers, real faults, and figures on what survived them.

The driver runs in a process whose settings point at a private Postgres and Redis
(console/harness/chaos_instances.py). It starts Celery worker processes, runs the sweeper and a
reviewer who approves every refund over 100 in loops of its own, starts runs of the demo
agents (a refund over 100 that crosses a gate, a refund under 100 that passes the gate by its
condition, the multi-step `order_summary` without a gate, and a `Send` fan-out of ledgered refunds,
console/harness/chaos_fanout.py, so kills land in steps of several tasks) at a steady pace, and meanwhile
injects one kind of fault:

- `kill`: SIGKILL the pool process executing a run (or now and then a whole worker, which is
  then started again, as a supervisor would); the run waits for its lease to expire, then the
  sweeper re-queues it and another worker carries on from its last checkpoint;
- `postgres`: stop Postgres abruptly (`pg_ctl -m immediate`, a crash) and start it again;
- `redis`: SIGKILL Redis, which persists nothing, and start it empty: queued messages are gone
  and the sweeper re-sends those runs from the database;
- `channels` (console/harness/chaos_pages.py): open run pages miss live events and must catch up;
- `burst` (console/harness/chaos_burst.py): 200 concurrent POST /api/runs through a real web
  process on a Postgres with a low connection limit: 201 or 503/429, never a 5xx or a lost run.

Then it checks, from the database, that every run succeeded, that no recorded step was lost or
doubled and that no side effect happened twice (console/harness/chaos_checks.py), and reports how long
the runs hit by a fault took to recover.
"""

from __future__ import annotations

import logging
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import connection, connections

from agents.engine.models import Run
from agents.engine.services import start_run
from agents.engine.sweeper import sweep
from approvals.defaults import ensure_defaults
from approvals.models import ApprovalRequest, Queue
from approvals.services import decide
from console.celery import app
from console.harness.chaos_checks import RunChecks, check_runs, ok_span_count
from console.harness.chaos_instances import ROOT, Instances
from console.kernel.errors import StewardError
from console.kernel.statistics import percentile

__all__ = ["SCENARIOS", "ChaosOptions", "Harness", "ScenarioResult", "report_lines", "run_scenario"]

log = logging.getLogger(__name__)

SCENARIOS = ("kill", "postgres", "redis", "channels", "burst")
SWEEP_EVERY = 0.5  # seconds between sweeps (beat's STEWARD_SWEEP_SECONDS, shortened)
POLL_EVERY = 0.05  # seconds between the tracker's looks at run statuses
CHAOS_ENGINEER = "chaos-engineer"
CHAOS_REVIEWER = "chaos-reviewer"

# Run kinds, in the order runs cycle through them: (agent, input for run number n of a batch).
RUN_KINDS: dict[str, tuple[str, Callable[[str, int], dict[str, Any]]]] = {
    "refund_gated": ("refund", lambda batch, n: {"order_id": f"CH-{batch}-{n}", "amount": 250, "reason": "chaos"}),
    "refund_auto": ("refund", lambda batch, n: {"order_id": f"CH-{batch}-{n}", "amount": 40, "reason": "chaos"}),
    "summary": ("order_summary", lambda batch, n: {"customer_id": f"C-{batch}-{n}"}),
    # A Send fan-out of ledgered refunds: kills land in a step of several tasks.
    "fanout": ("chaos_fanout", lambda batch, n: {"order_id": f"CF-{batch}-{n}"}),
}


@dataclass
class ChaosOptions:
    runs: int = 50
    workers: int = 2
    # Faults per scenario; None: kill: one per 5 runs (at least 3), restarts: 2.
    faults: int | None = None
    # Kill: the share of kills that take a whole worker (main and pool process) instead of the
    # pool process executing the run.
    whole_worker_kills: float = 0.25
    # How long Postgres or Redis stays down.
    down_seconds: float = 1.0
    # Seconds between run starts: runs are still starting while faults land.
    pace: float = 0.15
    # Channels: the share of live events a page never receives.
    drop: float = 0.3
    timeout: float = 240.0
    seed: int = 0

    def faults_for(self, scenario: str) -> int:
        if self.faults is not None:
            return self.faults
        return max(3, self.runs // 5) if scenario == "kill" else 2


@dataclass
class Fault:
    what: str
    at: float  # time.monotonic() when the fault was injected
    back: float  # when the service answered again (== at for a kill: other workers go on)
    affected: list[uuid.UUID]  # runs queued or running at that moment
    attempts: dict[uuid.UUID, int] = field(default_factory=dict)  # their claims so far
    # Recovery counts only runs the fault hit: for a kill, the run its worker was executing.
    hit: list[uuid.UUID] = field(default_factory=list)


@dataclass
class ScenarioResult:
    name: str
    batch: str
    title: str
    checks: RunChecks
    faults: list[Fault] = field(default_factory=list)
    recovery_s: list[float] = field(default_factory=list)
    sweeper: Counter[str] = field(default_factory=Counter)
    start_retries: int = 0
    driver_errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.checks.problems

    def as_dict(self) -> dict[str, Any]:
        c = self.checks
        return {
            "scenario": self.name,
            "batch": self.batch,
            "ok": self.ok,
            "runs": c.runs,
            "succeeded": c.succeeded,
            "failed": c.failed,
            "unfinished": c.unfinished,
            "max_attempts": c.max_attempts,
            "faults": len(self.faults),
            "down_s": [round(f.back - f.at, 3) for f in self.faults],
            "runs_in_flight_at_faults": sum(len(f.affected) for f in self.faults),
            "runs_hit": sum(len(f.hit) for f in self.faults),
            "recovery_p50_s": _round(percentile(self.recovery_s, 0.5)),
            "recovery_max_s": _round(max(self.recovery_s, default=None)),
            "lost_spans": c.lost_spans,
            "steps_without_span": c.steps_without_span,
            "extra_spans": c.extra_spans,
            "doubled_steps": c.doubled_steps,
            "refund_runs": c.refund_runs,
            "refund_rows": c.refund_rows,
            "duplicate_refunds": c.duplicate_refunds,
            "duplicate_ledger_rows": c.duplicate_ledger_rows,
            "duplicate_approval_requests": c.duplicate_approval_requests,
            "missing_refunds": c.missing_refunds,
            "sweeper_requeued": self.sweeper["requeued"],
            "sweeper_resent": self.sweeper["resent"],
            "sweeper_failed": self.sweeper["failed"],
            "start_retries": self.start_retries,
            "driver_errors": dict(self.driver_errors),
            "seconds": round(self.seconds, 2),
            **self.notes,
            "problems": self.problems + c.problems,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _reset_connection() -> None:
    """After an error (Postgres down) this thread's connection may be dead: open a new one next time."""
    try:
        connection.close()
    except Exception:  # noqa: BLE001 - closing a dead connection may itself fail
        pass


class Workers:
    """Celery workers on the driver's environment: each a main process with one pool process
    (prefork, concurrency 1), which is what executes a run."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.answered: set[str] = set()
        self.env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_ALLOW_ASYNC_UNSAFE", "PYTEST_CURRENT_TEST")}

    def start(self) -> str:
        """Start a worker; its node name."""
        name = f"chaos{len(self.procs) + 1}@steward"
        log_file = open(self.log_dir / f"{name.split('@')[0]}.log", "wb")  # noqa: SIM115 - the worker owns it
        self.procs[name] = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "console", "worker", "--pool=prefork", "--concurrency=1",
                "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", name, "-l", "WARNING",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        log_file.close()
        return name

    def alive(self) -> list[str]:
        return [name for name, proc in self.procs.items() if proc.poll() is None]

    def pool_process(self, name: str) -> int | None:
        """The pid of the worker's pool process (the one executing runs), if it has one now."""
        children = _children(self.procs[name].pid)
        return children[0] if children else None

    def ready(self) -> list[str]:
        """Live workers with a pool process that have answered a ping once, so consume from
        the broker. (A busy worker may answer no ping until its run stops: once is enough.)"""

        if any(name not in self.answered for name in self.alive()):
            try:
                replies = app.control.ping(timeout=0.5) or []
            except Exception:  # noqa: BLE001 - the broker is down: no news
                replies = []
            self.answered.update(name for reply in replies for name in reply)
        return [name for name in self.alive() if name in self.answered and self.pool_process(name)]

    def wait_ready(self, count: int, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while len(self.ready()) < count:
            dead = [n for n, p in self.procs.items() if p.poll() not in (None, -signal.SIGKILL)]
            if dead:
                raise RuntimeError(f"worker {dead[0]} exited by itself: see {self.log_dir}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{count} workers were not ready within {timeout:.0f} s: see {self.log_dir}")
            time.sleep(0.1)

    def busy(self, names: list[str], window: float = 0.05) -> list[str]:
        """Those of `names` whose pool process used the CPU during `window` seconds: executing a
        run (an idle one waits on a pipe). Linux /proc."""

        def cpu_ticks(pid: int | None) -> int:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                return 0
            return int(fields[11]) + int(fields[12])  # utime + stime

        before = {name: cpu_ticks(self.pool_process(name)) for name in names}
        time.sleep(window)
        return [name for name in names if cpu_ticks(self.pool_process(name)) > before[name]]

    def kill_pool_process(self, name: str) -> int:
        """SIGKILL the worker's pool process (as the OOM killer would); its main process forks
        a new one, and gives the message back to the broker (reject_on_worker_lost)."""
        pid = self.pool_process(name)
        if pid is None:
            raise RuntimeError(f"worker {name} has no pool process")
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while self.pool_process(name) in (pid, None) and time.monotonic() < deadline:
            time.sleep(0.05)  # the main process reaps it and forks the next one
        return pid

    def kill(self, name: str) -> int:
        """SIGKILL the whole worker, main and pool process: its unacknowledged message stays
        with the broker until the visibility timeout; its pid."""
        proc = self.procs[name]
        child = self.pool_process(name)
        os.kill(proc.pid, signal.SIGKILL)
        if child is not None:
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(10)
        return proc.pid

    def stop(self) -> None:
        for name in self.alive():
            self.procs[name].terminate()
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _children(pid: int) -> list[int]:
    """Child processes of `pid` (Linux /proc; the per-thread `children` lists when the kernel
    has them, else every process's parent)."""
    lists = list(Path(f"/proc/{pid}/task").glob("*/children"))
    if lists:
        children: list[int] = []
        for path in lists:
            try:
                children += [int(c) for c in path.read_text().split()]
            except OSError:
                continue
        return children
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


class Loop(threading.Thread):
    """Call `step` every `every` seconds until stopped. An error (a service is down) is counted,
    the thread's database connection dropped, and the loop goes on."""

    def __init__(self, name: str, every: float, step: Callable[[], None], errors: Counter[str]) -> None:
        super().__init__(name=f"chaos-{name}", daemon=True)
        self.every, self.step, self.errors = every, step, errors
        self.halt = threading.Event()

    def run(self) -> None:
        try:
            while not self.halt.is_set():
                try:
                    self.step()
                except Exception as exc:  # noqa: BLE001 - counted and shown in the report
                    self.errors[f"{self.name}: {type(exc).__name__}"] += 1
                    _reset_connection()
                self.halt.wait(self.every)
        finally:
            connections.close_all()

    def stop(self) -> None:
        self.halt.set()
        self.join(30)


class Tracker:
    """Every run of a batch: its status and claim count over time, as seen every POLL_EVERY seconds."""

    def __init__(self, batch: str) -> None:
        self.batch = batch
        self.lock = threading.Lock()
        self.last: dict[uuid.UUID, tuple[str, int]] = {}
        self.history: dict[uuid.UUID, list[tuple[float, str, int]]] = defaultdict(list)

    def poll(self) -> None:
        rows = list(Run.objects.filter(metadata__chaos=self.batch).values_list("id", "status", "attempts"))
        now = time.monotonic()
        with self.lock:
            for run_id, status, attempts in rows:
                if self.last.get(run_id) != (status, attempts):
                    self.last[run_id] = (status, attempts)
                    self.history[run_id].append((now, status, attempts))

    def stopped_after(self, run_id: uuid.UUID, moment: float) -> float | None:
        """When the run was first seen waiting or finished after `moment`."""
        with self.lock:
            for seen, status, _ in self.history.get(run_id, []):
                if seen > moment and (status == Run.Status.WAITING or status in Run.FINISHED):
                    return seen
        return None

    def claimed_again_after(self, run_id: uuid.UUID, moment: float, attempts: int, not_before: float) -> bool:
        """Whether the execution in flight at `moment` was lost (its worker died): the run was
        claimed again, and no sooner than `not_before` (the sweeper re-queues it only once its
        lease has expired; a claim sooner is a resume after an approval).

        The claim count is read before the status: a re-claimed execution is `running` for some
        50 ms, so the tracker often first sees it waiting or finished, with the higher count."""
        with self.lock:
            for seen, status, claims in self.history.get(run_id, []):
                if seen <= moment:
                    continue
                if claims > attempts:
                    return seen >= not_before
                if status == Run.Status.WAITING or status in Run.FINISHED:
                    return False
        return False


@dataclass
class Scenario:
    """What a fault injector works with."""

    name: str
    batch: str
    options: ChaosOptions
    harness: Harness
    tracker: Tracker
    rng: random.Random
    started: int = 0
    done_starting: threading.Event = field(default_factory=threading.Event)
    # Runs the starter may start so far: the kill scenario releases them a few at a time.
    allowed: int = 0
    allowed_changed: threading.Condition = field(default_factory=threading.Condition)
    # Set: start runs back to back, so a queue builds up before a fault.
    hurry: threading.Event = field(default_factory=threading.Event)

    def allow(self, count: int) -> None:
        with self.allowed_changed:
            self.allowed = max(self.allowed, min(count, self.options.runs))
            self.allowed_changed.notify_all()

    def wait_allowed(self, n: int) -> None:
        with self.allowed_changed:
            self.allowed_changed.wait_for(lambda: self.allowed > n)

    def ids(self, *statuses: str) -> list[uuid.UUID]:
        return list(Run.objects.filter(metadata__chaos=self.batch, status__in=statuses).values_list("id", flat=True))

    def attempts(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        return dict(Run.objects.filter(id__in=ids).values_list("id", "attempts"))

    def has_started(self, count: int) -> bool:
        return self.started >= count

    def all_finished(self) -> bool:
        if not self.done_starting.is_set():
            return False
        return not Run.objects.filter(metadata__chaos=self.batch, status__in=Run.ACTIVE).exists()

    def wait_until(self, predicate: Callable[[], bool], timeout: float, every: float = 0.01) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(every)
        return False


class Harness:
    """Workers, the sweeper and the reviewer, shared by the scenarios of one chaos session."""

    def __init__(self, options: ChaosOptions, log_dir: Path, instances: Instances | None, out: Callable[[str], None]) -> None:
        self.options = options
        self.instances = instances
        self.out = out
        self.workers = Workers(log_dir)
        self.expected_ok_spans: dict[str, int] = {}
        self.clean_run_s: dict[str, float] = {}
        self.engineer, self.reviewer = _chaos_users()
        # Faults make these log a traceback per event or message they could not send: expected
        # here, and counted in the figures instead.
        for noisy in ("console.kernel.live", "django.db.backends.base"):
            logging.getLogger(noisy).setLevel(logging.CRITICAL)

    def __enter__(self) -> Harness:
        for _ in range(self.options.workers):
            self.workers.start()
        self.workers.wait_ready(self.options.workers)
        return self

    def __exit__(self, *exc: object) -> None:
        self.workers.stop()
        connections.close_all()

    def baseline(self) -> None:
        """One clean run of each kind: how many `ok` spans each records, how long it takes."""
        batch = f"base-{uuid.uuid4().hex[:6]}"
        started: dict[str, Run] = {}

        for n, (kind, (agent, make_input)) in enumerate(RUN_KINDS.items()):
            started[kind] = start_run(agent, make_input(batch, n), self.engineer, metadata={"chaos": batch, "kind": kind, "n": n})
        with self._loops(batch, Counter(), Counter()):
            deadline = time.monotonic() + 120
            while Run.objects.filter(metadata__chaos=batch, status__in=Run.ACTIVE).exists():
                if time.monotonic() > deadline:
                    raise RuntimeError("the clean runs did not finish within 120 s: are the workers up? (see the worker logs)")
                time.sleep(0.05)
        for kind, run in started.items():
            run.refresh_from_db()
            if run.status != Run.Status.SUCCEEDED:
                raise RuntimeError(f"a clean {kind} run ended {run.status}: {run.error}")
            self.expected_ok_spans[kind] = ok_span_count(run.id)
            self.clean_run_s[kind] = run.latency_ms / 1000

    @contextmanager
    def _loops(self, batch: str, sweeps: Counter[str], errors: Counter[str], tracker: Tracker | None = None) -> Iterator[None]:

        def sweep_step() -> None:
            sweeps.update(sweep())

        def approve_step() -> None:
            pending = ApprovalRequest.objects.filter(
                run__metadata__chaos=batch, status=ApprovalRequest.Status.PENDING
            ).values_list("id", flat=True)
            for request_id in list(pending):
                try:
                    decide(request_id, self.reviewer, "approve")
                except StewardError:
                    pass  # decided meanwhile (a retry after a lost connection)

        loops = [Loop("sweeper", SWEEP_EVERY, sweep_step, errors), Loop("reviewer", 0.05, approve_step, errors)]
        if tracker is not None:
            loops.append(Loop("tracker", POLL_EVERY, tracker.poll, errors))
        for loop in loops:
            loop.start()
        try:
            yield
        finally:
            for loop in loops:
                loop.stop()


def _chaos_users() -> tuple[User, User]:
    # A fresh database has the roles and queues from a migration; make sure, and add our two people.
    ensure_defaults(Group, Queue)
    users = []
    for username, group in ((CHAOS_ENGINEER, "engineers"), (CHAOS_REVIEWER, "reviewers")):
        user, created = User.objects.get_or_create(username=username)
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=group))
        users.append(user)
    return users[0], users[1]


def _start_runs(scenario: Scenario, errors: Counter[str], retries: list[int]) -> None:
    """Start the batch's runs at the scenario's pace; while a service is down, try again."""

    kinds = list(RUN_KINDS)
    try:
        for n in range(scenario.options.runs):
            kind = kinds[n % len(kinds)]
            agent, make_input = RUN_KINDS[kind]
            metadata = {"chaos": scenario.batch, "kind": kind, "n": n}
            scenario.wait_allowed(n)
            while True:
                try:
                    start_run(agent, make_input(scenario.batch, n), scenario.harness.engineer, metadata=metadata)
                    break
                except Exception as exc:  # noqa: BLE001 - Postgres or Redis is down: a person would retry
                    errors[f"start: {type(exc).__name__}"] += 1
                    _reset_connection()
                    if _row_written(scenario.batch, n):
                        # Committed, but the message could not be sent: the sweeper will send it.
                        break
                    retries[0] += 1
                    time.sleep(0.2)
            scenario.started = n + 1
            if not scenario.hurry.is_set():
                time.sleep(scenario.options.pace)
    finally:
        scenario.done_starting.set()
        connections.close_all()


def _row_written(batch: str, n: int) -> bool:
    try:
        return Run.objects.filter(metadata__chaos=batch, metadata__n=n).exists()
    except Exception:  # noqa: BLE001 - still down
        _reset_connection()
        return False


# --- fault injectors -------------------------------------------------------------------------


def inject_kills(scenario: Scenario) -> list[Fault]:
    """SIGKILL a worker's pool process while it executes a run, or now and then the whole worker
    (main and pool process), which a supervisor then starts again."""
    faults: list[Fault] = []
    workers, options = scenario.harness.workers, scenario.options
    kills = options.faults_for("kill")
    # Runs are released a few before each kill, so there is work in flight at every kill.
    per_kill = math.ceil(options.runs / kills)
    # Runs whose process was killed, with their claims then: `running` until the lease expires.
    orphaned: dict[uuid.UUID, int] = {}

    def in_flight() -> list[uuid.UUID]:
        claims = scenario.attempts(scenario.ids(Run.Status.RUNNING))
        return [r for r, n in claims.items() if r not in orphaned or n > orphaned[r]]

    k = 0
    while k < kills:
        # Every worker has its pool process again, and a killed worker's replacement is up.
        workers.wait_ready(options.workers)
        ready = workers.ready()
        scenario.allow((k + 1) * per_kill)
        # Wait for a run in flight; when this kill's share of runs is already done, release
        # one more at a time.
        while not scenario.wait_until(lambda: bool(in_flight()), 2):
            if scenario.allowed >= options.runs and scenario.all_finished():
                scenario.allow(options.runs)
                return faults
            scenario.allow(scenario.allowed + 1)
        # Somewhere inside a run: its claim, a step, the ledger, a checkpoint, its last write. A
        # demo run is `running` for only some 50 ms, so the aim must be quick (waiting for every
        # worker to be busy missed every run on an idle machine).
        time.sleep(scenario.rng.uniform(0, 0.01))
        # The process executing a run (CPU use), checked right before the kill.
        busy = workers.busy(ready, window=0.01)
        affected = in_flight()
        if not busy or not affected:
            # The run finished while we aimed: aim again rather than kill an idle worker.
            continue
        victim = scenario.rng.choice(busy)
        attempts = scenario.attempts(affected)
        whole = scenario.rng.random() < options.whole_worker_kills
        at = time.monotonic()
        if whole:
            pid = workers.kill(victim)
            workers.start()
        else:
            pid = workers.kill_pool_process(victim)
        what = "SIGKILL a whole worker" if whole else "SIGKILL a worker's pool process"
        faults.append(Fault(what, at, at, affected, attempts))
        orphaned.update(attempts)
        log.info("%s (pid %s) with %d run(s) in flight", what, pid, len(affected))
        k += 1
    scenario.allow(options.runs)
    return faults


def _inject_restarts(scenario: Scenario, label: str, stop: Callable[[], None], start: Callable[[], None]) -> list[Fault]:
    """Between runs started at the scenario's pace, a few started back to back right before each
    fault: when the service goes down, some runs wait in the queue and some execute."""
    faults: list[Fault] = []
    options = scenario.options
    count = options.faults_for(scenario.name)
    burst = max(1, min(options.workers + 2, options.runs // (2 * count)))
    paced = max(0, options.runs - count * burst) / (count + 1)
    for k in range(count):
        before = min(options.runs, round((k + 1) * paced) + k * burst)
        scenario.allow(before)
        scenario.wait_until(partial(scenario.has_started, before), 120, every=0.02)
        scenario.hurry.set()
        scenario.allow(before + burst)
        scenario.wait_until(partial(scenario.has_started, min(options.runs, before + burst)), 60, every=0.005)
        scenario.hurry.clear()
        affected = scenario.ids(Run.Status.QUEUED, Run.Status.RUNNING)
        _reset_connection()
        at = time.monotonic()
        stop()
        time.sleep(options.down_seconds)
        start()
        faults.append(Fault(label, at, time.monotonic(), affected, hit=affected))
        _reset_connection()
    scenario.allow(options.runs)
    return faults


def inject_postgres_restarts(scenario: Scenario) -> list[Fault]:
    pg = _instances(scenario).postgres
    return _inject_restarts(scenario, "Postgres crash (pg_ctl -m immediate) and restart", lambda: pg.stop("immediate"), pg.start)


def inject_redis_restarts(scenario: Scenario) -> list[Fault]:
    redis = _instances(scenario).redis
    return _inject_restarts(scenario, "Redis SIGKILL and restart, nothing persisted", redis.kill, redis.start)


def _instances(scenario: Scenario) -> Instances:
    if scenario.harness.instances is None:
        raise RuntimeError(f"the {scenario.name} scenario restarts services: it needs private instances")
    return scenario.harness.instances


INJECTORS: dict[str, tuple[str, Callable[[Scenario], list[Fault]]]] = {
    "kill": ("kill -9 a worker at random points", inject_kills),
    "postgres": ("restart Postgres during runs", inject_postgres_restarts),
    "redis": ("restart Redis with nothing persisted", inject_redis_restarts),
}


def run_scenario(name: str, harness: Harness) -> ScenarioResult:
    """Start a batch of runs, inject the scenario's faults, wait for the runs, check them.

    The `channels` scenario is not a fault injection: console/harness/chaos_pages.py runs it."""
    options = harness.options
    title, inject = INJECTORS[name]
    batch = f"{name}-{uuid.uuid4().hex[:6]}"
    tracker = Tracker(batch)
    scenario = Scenario(name, batch, options, harness, tracker, random.Random(f"{options.seed}-{name}"))
    sweeps: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    retries = [0]
    began = time.monotonic()
    starter = threading.Thread(target=_start_runs, args=(scenario, errors, retries), name="chaos-starter", daemon=True)
    with harness._loops(batch, sweeps, errors, tracker):
        starter.start()
        faults = inject(scenario)
        starter.join(options.timeout)
        finished = scenario.wait_until(scenario.all_finished, options.timeout, every=0.1)
        tracker.poll()
    result = ScenarioResult(
        name, batch, f"{title} ({len(faults)} faults)", check_runs(batch, harness.expected_ok_spans), faults,
        sweeper=sweeps, start_retries=retries[0], driver_errors=errors, seconds=time.monotonic() - began,
    )
    if not finished:
        result.problems.append(f"runs still active {options.timeout:.0f} s after the last start")
    if len(faults) < options.faults_for(name):
        result.problems.append(f"only {len(faults)} of {options.faults_for(name)} faults were injected (the runs ended first)")
    for fault in faults:
        if name == "kill":
            # Half the lease: a lost execution is re-queued only after the whole lease.
            not_before = fault.at + settings.STEWARD_LEASE_SECONDS / 2
            fault.hit = [
                r for r in fault.affected if tracker.claimed_again_after(r, fault.at, fault.attempts.get(r, 0), not_before)
            ]
        for run_id in fault.hit:
            stopped = tracker.stopped_after(run_id, fault.at)
            if stopped is not None:
                result.recovery_s.append(stopped - fault.at)
    return result


# --- report ------------------------------------------------------------------------------------


def report_lines(result: ScenarioResult) -> list[str]:
    d = result.as_dict()
    lines = [f"== {result.name}: {result.title}, batch {result.batch}, {d['seconds']:.1f} s"]
    lines.append(
        f"runs started {d['runs']}, succeeded {d['succeeded']}, failed {d['failed']}, unfinished {d['unfinished']} "
        f"(most claims of one run: {d['max_attempts']})"
    )
    if result.faults:
        down = [f.back - f.at for f in result.faults]
        kinds = ", ".join(f"{n} x {what}" for what, n in Counter(f.what for f in result.faults).items())
        lines.append(
            f"faults {len(result.faults)}: {kinds}; service down p50 {percentile(down, 0.5):.2f} s; "
            f"runs in flight at a fault {d['runs_in_flight_at_faults']}, of which hit {d['runs_hit']}"
        )
        if result.recovery_s:
            lines.append(
                f"recovery of the runs hit (fault to the run's next stop, waiting or finished): p50 {d['recovery_p50_s']:.2f} s, "
                f"max {d['recovery_max_s']:.2f} s over {len(result.recovery_s)} runs"
            )
    if "events" in result.notes:
        n = result.notes
        lines.append(
            f"live events sent to {n['pages']} open run pages: {n['events']}, dropped {n['events_dropped']}; "
            f"pages whose last event was dropped {n['pages_last_event_dropped']}; pages behind the database "
            f"0.5 s after the last run finished {n['pages_behind_after_runs']}"
        )
        lines.append(
            f"pages matching the database (status and every span): {n['pages_matching']}/{n['pages']}; "
            f"spans in the database {n['spans_in_db']}, shown {n['spans_shown']}; caught up "
            f"{n['catch_up_s']:.2f} s after the last run finished" if n["catch_up_s"] is not None else
            f"pages matching the database (status and every span): {n['pages_matching']}/{n['pages']}; "
            f"spans in the database {n['spans_in_db']}, shown {n['spans_shown']}; not caught up"
        )
    lines.append(
        f"lost spans {d['lost_spans']} (checkpointed steps without a span {d['steps_without_span']}; "
        f"extra spans {d['extra_spans']}, steps recorded twice {d['doubled_steps']})"
    )
    lines.append(
        f"side effects: {d['refund_runs']} refund runs, {d['refund_rows']} refunds, duplicates {d['duplicate_refunds']}, "
        f"missing {d['missing_refunds']}; ledger duplicates {d['duplicate_ledger_rows']}; "
        f"approval requests opened twice {d['duplicate_approval_requests']}"
    )
    lines.append(
        f"sweeper: re-queued {d['sweeper_requeued']} (lease expired), re-sent {d['sweeper_resent']} (still queued), "
        f"failed {d['sweeper_failed']}"
    )
    if d["start_retries"] or d["driver_errors"]:
        errors = ", ".join(f"{k} x{v}" for k, v in sorted(d["driver_errors"].items()))
        lines.append(f"driver: start retries {d['start_retries']}; errors while a service was down: {errors or 'none'}")
    problems = d["problems"]
    lines.append("result: OK" if not problems else "result: FAILED: " + "; ".join(problems))
    return lines
