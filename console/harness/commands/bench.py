"""`manage.py bench`: what Steward costs over stock LangGraph, measured as a user would compare.

Needs Postgres and Redis (broker and channel layer); DEBUG is forced off here and in every child
process. Sections (`--only p1,p2`, `--skip p5`):

- p1: Steward's full path against stock LangGraph. Steward: runs started in this process with
  `start_run` (the service `POST /api/runs` calls), executed by ONE separate Celery worker
  process (prefork, concurrency 1) with every span recorded, the lease, default settings
  (checkpoint encryption on). Stock: `langgraph.checkpoint.postgres.PostgresSaver` (default
  serde, its own pool, durability "sync") invoking the same 10-node graph in this process.
  Batches alternate, the order flipping every trial; the ratio is of the medians of per-trial
  runs/s.
- p2: the approval round trip over HTTP: a decision POSTed to daphne with a real API key → the
  resumed run's next span recorded by the worker process (polled in the database).
- p3: `--p3-runs` runs through `POST /api/runs` (daphne, 1 worker with 2 processes) ÷ stock
  single-process runs/s (stock batches right before and after).
- p6: runs started through the LangGraph SDK (stateless `runs.create`, `/langgraph`) ÷ runs
  through `POST /api/runs`, same agent, same daphne and worker as p3, batches interleaved.
- p4: the pages at volume (`--pages`: `manage.py bench_pages`, console/harness/bench_pages.py; it seeds this database once, so it is opt-in).
- p5: span recorded → row in an open run page (`manage.py bench_live`, chromium), 10 ms steps.
- p7: recorded replay ÷ original (`manage.py bench_replay`).

The 1-minute load average is printed at the start and the end; `noisy=1` when it started above
1.5 (such a run's figures do not count). The last lines are `name=value` each.
"""

from __future__ import annotations

import io
import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from approvals.defaults import ensure_defaults
from approvals.models import Queue
from console.celery import app
from console.harness import bench
from console.harness.bench_pages import p4_lines
from console.harness.bench_processes import (
    BenchProcessError,
    Daphne,
    Worker,
    child_environment,
    force_debug_off,
    load_average,
)
from console.harness.commands.bench_pages import add_volume_arguments, run_page_bench
from console.kernel.arguments import positive
from console.kernel.models import ApiKey
from console.kernel.roles import ENGINEERS, REVIEWERS
from console.kernel.statistics import median, percentile

BENCH_ENGINEER = "bench-engineer"
BENCH_REVIEWER = "bench-reviewer"
BASELINE = "langgraph.checkpoint.postgres.PostgresSaver"
SECTIONS = ("p1", "p2", "p3", "p4", "p5", "p6", "p7")
NOISY_LOAD = 1.5
API_KEY_NAME = "manage.py bench"
# Decisions before the timed ones: the worker's and daphne's first requests pay imports and connections.
APPROVAL_WARMUP = 3


def _sections(value: str) -> set[str]:
    chosen = {s.strip() for s in value.split(",") if s.strip()}
    unknown = chosen - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    return chosen


class Command(BaseCommand):
    help = (
        "Benchmark Steward's production path (separate worker and web processes, DEBUG off) against stock "
        "LangGraph's PostgresSaver on a 10-node graph; time the approval round trip over HTTP, runs through "
        "the API, live updates, pages and replays. Needs Postgres and Redis; purges the broker's queue and "
        "refuses to run while another worker consumes from it. Bench data is deleted at the end."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--runs", type=positive, default=50, help="p1: runs per batch, for each side")
        parser.add_argument("--trials", type=positive, default=5, help="p1: batches of each side, interleaved")
        parser.add_argument("--warmup", type=positive, default=5, help="p1: untimed runs of each side first")
        parser.add_argument("--approvals", type=positive, default=100, help="p2: timed decisions")
        parser.add_argument("--p3-runs", type=positive, default=1000, help="p3: runs through POST /api/runs")
        parser.add_argument("--sdk-runs", type=positive, default=50, help="p6: runs per batch, for each of SDK and API")
        parser.add_argument("--sdk-trials", type=positive, default=4, help="p6: batches of each, interleaved")
        parser.add_argument("--live-runs", type=positive, default=5, help="p5: runs watched in the browser")
        parser.add_argument("--replay-runs", type=positive, default=12, help="p7: originals and replays timed")
        parser.add_argument("--only", type=_sections, default=None, help=f"comma-separated sections ({','.join(SECTIONS)})")
        parser.add_argument("--skip", type=_sections, default=set(), help="comma-separated sections to leave out")
        # p4: the pages at volume (console/harness/bench_pages.py); seeds this database once, so opt in.
        parser.add_argument("--pages", action="store_true", help="also time the pages at volume (p4_*), as bench_pages")
        add_volume_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        sections = (options["only"] or set(SECTIONS)) - options["skip"]
        load_start = load_average()
        self.figures: list[tuple[str, str]] = [("load_start", f"{load_start:.2f}")]
        if load_start > NOISY_LOAD:
            self.figures.append(("noisy", "1"))
        self.stderr.write(f"load average at start {load_start:.2f}; sections {','.join(sorted(sections))}")
        if connection.vendor != "postgresql" or str(settings.CELERY_BROKER_URL).startswith("memory://"):
            raise CommandError("the bench needs Postgres (DATABASE_URL) and a Redis broker (CELERY_BROKER_URL)")
        env = force_debug_off()
        self._refuse_if_workers_listen()
        engineer, reviewer, created = self._setup()
        runner = _Sections(self, env, options, engineer, reviewer)
        try:
            for name in ("p1", "p2", "p3", "p6"):
                if name in sections:
                    getattr(runner, name)()
        except (bench.BenchError, BenchProcessError) as exc:
            # The sections that finished still count: their figures first, then the failure.
            self._print_figures()
            raise CommandError(f"bench failed: {exc}") from exc
        finally:
            runner.stop_processes()
            runner.close()
            removed = bench.cleanup(runner.stock_threads)
            ApiKey.objects.filter(name=API_KEY_NAME).delete()
            for user in created:
                user.delete()
            app.control.purge()
        self.stderr.write("removed bench data: " + ", ".join(f"{n} {what}" for what, n in removed.items()))
        for name, command, kwargs, wanted in (
            ("p7", "bench_replay", {"runs": options["replay_runs"]}, ("p7_replay_ratio",)),
            ("p5", "bench_live", {"runs": options["live_runs"], "step_ms": 10}, ("live_update_p50_ms", "live_update_p95_ms")),
        ):
            if name in sections:
                with child_environment(env):
                    self._other(name, command, kwargs, wanted)
        if "p4" in sections and options["pages"]:
            for line in p4_lines(run_page_bench(options, self.stderr.write)):
                name, _, value = line.partition("=")
                self.figures.append((name, value))
        self._print_figures()

    def _print_figures(self) -> None:
        self.figures.append(("load_end", f"{load_average():.2f}"))
        for name, value in self.figures:
            self.stdout.write(f"{name}={value}")

    def _other(self, section: str, command: str, kwargs: dict[str, Any], wanted: tuple[str, ...] | None) -> None:
        """Another bench command's figures, as `p<n>_…` lines (all of them when `wanted` is None)."""
        out = io.StringIO()
        try:
            call_command(command, stdout=out, stderr=io.StringIO(), **kwargs)
        except CommandError as exc:
            self.stderr.write(f"{section} ({command}) skipped: {exc}")
            return
        for line in out.getvalue().splitlines():
            key, sep, value = line.partition("=")
            if not sep or " " in key or (wanted is not None and key not in wanted):
                continue
            if section == "p5":
                key = key.replace("live_update", "p5_live")
            elif not key.startswith(f"{section}_"):
                key = f"{section}_{key}"
            self.figures.append((key, value))

    # --- setup ------------------------------------------------------------------------------

    def _refuse_if_workers_listen(self) -> None:
        # Another worker on this broker would take our runs: the figures would be of two workers.
        replies = app.control.ping(timeout=1.0)
        if replies:
            names = ", ".join(sorted(name for reply in replies for name in reply))
            raise CommandError(f"workers are consuming from this broker ({names}): stop them or use a private broker")
        app.control.purge()

    def _setup(self) -> tuple[Any, Any, list[Any]]:
        # The default queue and its reviewers group come from a migration; a flushed test
        # database has lost them, and the gate's request needs them.
        ensure_defaults(Group, Queue)
        User = get_user_model()
        users, created_users = [], []
        for username, group in ((BENCH_ENGINEER, ENGINEERS), (BENCH_REVIEWER, REVIEWERS)):
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
                created_users.append(user)
            user.groups.add(Group.objects.get(name=group))
            users.append(user)
        bench.ensure_bench_agents()
        return users[0], users[1], created_users


class _Sections:
    """p1, p2 and p3, sharing the stock pool and the child processes (started when first needed)."""

    def __init__(
        self, command: Command, env: dict[str, str], options: dict[str, Any], engineer: Any, reviewer: Any
    ) -> None:
        self.command, self.env, self.options = command, env, options
        self.engineer, self.reviewer = engineer, reviewer
        self.stock_threads: list[str] = []
        self.pool = bench.stock_pool()
        self.worker: Worker | None = None
        self.daphne: Daphne | None = None
        self.stock_rps: list[float] = []

    def say(self, text: str) -> None:
        self.command.stderr.write(text)

    def figure(self, name: str, value: str) -> None:
        self.command.figures.append((name, value))

    def close(self) -> None:
        self.pool.close()

    def stop_processes(self) -> None:
        for child in (self.worker, self.daphne):
            if child is not None:
                child.stop()
        self.worker = self.daphne = None

    def _worker(self, concurrency: int) -> None:
        if self.worker is not None and self.worker.name == f"worker{concurrency}":
            return
        if self.worker is not None:
            self.worker.stop()
        self.say(f"starting a worker process (concurrency {concurrency})…")
        self.worker = Worker(self.env, concurrency)
        self.worker.wait_ready()

    def _daphne(self) -> Daphne:
        if self.daphne is None:
            self.say("starting daphne…")
            self.daphne = Daphne(self.env)
            self.daphne.wait_ready()
        return self.daphne

    def _stock(self, runs: int) -> float:
        seconds, threads = bench.stock_batch(self.pool, runs)
        self.stock_threads += threads
        self.stock_rps.append(runs / seconds)
        return runs / seconds

    # --- p1 -----------------------------------------------------------------------------------

    def p1(self) -> None:
        runs, trials, warmup = self.options["runs"], self.options["trials"], self.options["warmup"]
        self._worker(1)
        self.say(f"p1: warming up ({warmup} runs of each)…")
        self._stock(warmup)
        bench.steward_batch(warmup, self.engineer)
        self.stock_rps.clear()
        stock: list[float] = []
        steward: list[float] = []
        timed: list[uuid.UUID] = []
        self.say(f"{'trial':<7}{'order':<16}{'stock runs/s':>14}{'steward runs/s':>16}{'ratio':>8}")
        for trial in range(trials):
            # Flip the order every trial: a slow drift (autovacuum, cache, load) then lands on both.
            order = ("stock", "steward") if trial % 2 == 0 else ("steward", "stock")
            for side in order:
                if side == "stock":
                    stock.append(self._stock(runs))
                else:
                    seconds, ids = bench.steward_batch(runs, self.engineer)
                    steward.append(runs / seconds)
                    timed += ids
            self.say(f"{trial + 1:<7}{','.join(order):<16}{stock[-1]:>14.1f}{steward[-1]:>16.1f}{steward[-1] / stock[-1]:>8.3f}")
        if not bench.linear_span_counts_ok(timed):
            raise bench.BenchError(f"a timed Steward run did not record {bench.NODES} node and {bench.NODES} model spans")
        stock_rps, steward_rps = median(stock), median(steward)
        assert stock_rps is not None and steward_rps is not None
        self.figure("baseline", BASELINE)
        self.figure("p1_baseline_runs_per_s", f"{stock_rps:.2f}")
        self.figure("p1_steward_runs_per_s", f"{steward_rps:.2f}")
        self.figure("p1_trial_ratios", ",".join(f"{b / a:.3f}" for a, b in zip(stock, steward, strict=True)))
        self.figure("p1_ratio_vs_stock", f"{steward_rps / stock_rps:.3f}")

    # --- p2 -----------------------------------------------------------------------------------

    def _client(self, user: Any) -> Any:
        from console.harness.bench_http import ApiClient

        return ApiClient(self._daphne().base, self._key(user))

    def _key(self, user: Any) -> str:
        _, raw = ApiKey.issue(user, name=API_KEY_NAME)
        return raw

    def p2(self) -> None:
        from console.harness.bench_http import approval_roundtrips

        self._worker(1)
        client = self._client(self.reviewer)
        count = self.options["approvals"]
        self.say(f"p2: {count} decisions over HTTP (after {APPROVAL_WARMUP} untimed)…")
        try:
            trips = approval_roundtrips(client, count, APPROVAL_WARMUP, self.engineer)
        finally:
            client.close()
        visible = [t.visible_ms for t in trips]
        posted = [t.post_ms for t in trips]
        self.figure("p2_post_p50_ms", _ms(percentile(posted, 0.5)))
        self.figure("p2_post_p95_ms", _ms(percentile(posted, 0.95)))
        self.figure("p2_http_p50_ms", _ms(percentile(visible, 0.5)))
        self.figure("p2_http_p95_ms", _ms(percentile(visible, 0.95)))

    # --- p3 -----------------------------------------------------------------------------------

    def p3(self) -> None:
        from console.harness.bench_http import runs_over_http

        runs = self.options["p3_runs"]
        self._worker(2)
        client = self._client(self.engineer)
        stock_each = max(10, min(runs // 2, 200))
        self.say(f"p3: {stock_each} stock runs, {runs} runs through POST /api/runs, {stock_each} stock runs…")
        try:
            before = self._stock(stock_each)
            seconds, _ = runs_over_http(client, runs)
            after = self._stock(stock_each)
        finally:
            client.close()
        baseline = (before + after) / 2
        self.figure("p3_baseline_runs_per_s", f"{baseline:.2f}")
        self.figure("p3_api_runs_per_s", f"{runs / seconds:.2f}")
        self.figure("p3_ratio_celery", f"{runs / seconds / baseline:.3f}")

    # --- p6 -----------------------------------------------------------------------------------

    def p6(self) -> None:
        from console.harness.bench_http import runs_over_http, runs_over_sdk

        runs, trials = self.options["sdk_runs"], self.options["sdk_trials"]
        self._worker(2)
        client = self._client(self.engineer)
        key, base = self._key(self.engineer), self._daphne().base
        self.say(f"p6: {trials} batches of {runs} runs through the SDK and through POST /api/runs, interleaved…")
        api: list[float] = []
        sdk: list[float] = []
        try:
            runs_over_sdk(base, key, 3)  # warm-up: the SDK's imports and connection, the views' first calls
            for trial in range(trials):
                for side in ("api", "sdk") if trial % 2 == 0 else ("sdk", "api"):
                    if side == "api":
                        api.append(runs / runs_over_http(client, runs)[0])
                    else:
                        sdk.append(runs / runs_over_sdk(base, key, runs)[0])
        finally:
            client.close()
        api_rps, sdk_rps = median(api), median(sdk)
        assert api_rps is not None and sdk_rps is not None
        self.figure("p6_api_runs_per_s", f"{api_rps:.2f}")
        self.figure("p6_sdk_runs_per_s", f"{sdk_rps:.2f}")
        self.figure("p6_sdk_ratio_vs_api", f"{sdk_rps / api_rps:.3f}")


def _ms(value: float | None) -> str:
    return "nan" if value is None else f"{value:.1f}"

