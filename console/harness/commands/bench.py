"""`manage.py bench`: what Steward costs over bare LangGraph, and how fast an approval resumes a run.

Measured in one process, on whatever database, broker and channel layer the settings point at:

- (a) a 10-node linear graph (one scripted model call per node) on bare LangGraph, with the same
  checkpointer class and durability "sync";
- (b) the same graph through Steward: `start_run` (Run row, Celery message, live event), then
  `runtime.execute` in this thread (claim, every span written in the checkpoint transaction,
  totals, live events);
- the approval round trip through a Celery worker thread it starts itself: from just before
  `decide()` to the resumed run's first span after the gate being in the database.

(a) and (b) alternate in batches (the order flips every trial, so drift hits both alike); the
figures are medians of per-trial throughput. The last five lines are one `name=value` each.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, connections

from agents.engine.checkpointer import close_pool
from agents.engine.run_queue import execute_run
from approvals.defaults import ensure_defaults
from approvals.models import Queue
from console.celery import app
from console.harness import bench
from console.harness.bench_pages import p4_lines
from console.harness.commands.bench_pages import add_volume_arguments, run_page_bench
from console.kernel.arguments import positive
from console.kernel.roles import ENGINEERS, REVIEWERS
from console.kernel.statistics import median, percentile

BENCH_ENGINEER = "bench-engineer"
BENCH_REVIEWER = "bench-reviewer"
# Decisions before the timed ones: the worker thread's first tasks pay imports and connections.
APPROVAL_WARMUP = 2


class Command(BaseCommand):
    help = (
        "Benchmark Steward against bare LangGraph (10-node graph, scripted model) and time the approval "
        "round trip through an in-process worker. Uses the configured database and broker; it purges "
        "the broker's task queue and refuses to run while another worker consumes from it. Bench data "
        "is deleted at the end."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--runs", type=positive, default=50, help="runs per batch, for each of (a) and (b)")
        parser.add_argument("--trials", type=positive, default=5, help="batches of (a) and of (b), interleaved")
        parser.add_argument("--approvals", type=positive, default=30, help="timed approval round trips")
        parser.add_argument("--warmup", type=positive, default=5, help="untimed runs of (a) and (b) first")
        # p4: the pages at volume (console/harness/bench_pages.py); seeds this database once, so opt in.
        parser.add_argument("--pages", action="store_true", help="also time the pages at volume (p4_*), as bench_pages")
        add_volume_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        # Imported here, not at module level: importing registers the bench agents, and that
        # should happen only in a process that benchmarks.

        runs, trials, approvals = options["runs"], options["trials"], options["approvals"]
        self._refuse_if_workers_listen()
        engineer, reviewer, created_users = self._setup()
        bare_threads: list[str] = []
        bare_s: list[float] = []
        steward_s: list[float] = []
        orders: list[str] = []
        try:
            self.stderr.write(f"warming up ({options['warmup']} runs of each)…")
            bare_threads += bench.bare_batch(options["warmup"])[1]
            bench.steward_batch(options["warmup"], engineer)
            timed_runs: list[uuid.UUID] = []
            for trial in range(trials):
                # Flip the order every trial: a slow drift (autovacuum, cache, thermal) then
                # lands on both variants instead of always on the second.
                order = ("a", "b") if trial % 2 == 0 else ("b", "a")
                orders.append(",".join(order))
                for variant in order:
                    if variant == "a":
                        seconds, threads = bench.bare_batch(runs)
                        bare_threads += threads
                        bare_s.append(seconds)
                    else:
                        seconds, ids = bench.steward_batch(runs, engineer)
                        timed_runs += ids
                        steward_s.append(seconds)
                self.stderr.write(f"trial {trial + 1}/{trials} done")
            if not bench.linear_span_counts_ok(timed_runs):
                raise CommandError(f"a timed Steward run did not record {bench.NODES} node and {bench.NODES} model spans")
            trips = self._approval_phase(approvals, engineer, reviewer)
        except bench.BenchError as exc:
            raise CommandError(f"bench failed: {exc}") from exc
        finally:
            removed = bench.cleanup(bare_threads)
            self._remove_users(created_users)
            self._purge()
            close_pool()
        self._report(runs, trials, orders, bare_s, steward_s, trips, removed)
        if options["pages"]:
            for line in p4_lines(run_page_bench(options, self.stderr.write)):
                self.stdout.write(line)

    # --- setup ------------------------------------------------------------------------------

    def _refuse_if_workers_listen(self) -> None:

        # A worker consuming this broker would take (b)'s messages and race us for the claim,
        # and could take the approval runs from the worker we time.
        replies = app.control.ping(timeout=1.0)
        if replies:
            names = ", ".join(sorted(name for reply in replies for name in reply))
            raise CommandError(f"workers are consuming from this broker ({names}): stop them or use a private broker")

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

    def _remove_users(self, created: list[Any]) -> None:
        # Only users this invocation created: a bench user someone kept on purpose stays.
        for user in created:
            user.delete()

    def _purge(self) -> int:

        # start_run sent a message for every (b) run on commit. Those runs are finished (or
        # deleted), so the messages are no-ops, but the worker we start would first have to
        # chew through all of them.
        return int(app.control.purge() or 0)

    # --- approval round trip ----------------------------------------------------------------

    def _approval_phase(self, approvals: int, engineer: Any, reviewer: Any) -> list[Any]:


        purged = self._purge()
        self.stderr.write(f"purged {purged} messages; starting a worker thread for {approvals} approvals…")
        closing = threading.Event()
        closed = threading.Event()
        last_task_id = str(uuid.uuid4())

        def close_after_last_task(task_id: str | None = None, **_: Any) -> None:
            # The worker keeps its database connection between tasks, as a real worker does
            # (closing it after every task would add a connect to each timed round trip). After
            # the timed ones, one untimed task closes it, so nothing of ours keeps the database
            # open from a dead thread (a test database could not be flushed or dropped).
            if closing.is_set():
                connections.close_all()
                if task_id == last_task_id:
                    closed.set()

        task_postrun.connect(close_after_last_task, weak=False)
        try:
            with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30, loglevel="WARNING"):
                trips = bench.approval_roundtrips(approvals, APPROVAL_WARMUP, engineer, reviewer)
                closing.set()
                # A run id that does not exist: the task's claim finds nothing and returns.
                execute_run.apply_async(args=(str(uuid.uuid4()),), task_id=last_task_id)
                closed.wait(30)
        finally:
            task_postrun.disconnect(close_after_last_task)
        return trips

    # --- output -------------------------------------------------------------------------------

    def _report(
        self,
        runs: int,
        trials: int,
        orders: list[str],
        bare_s: list[float],
        steward_s: list[float],
        trips: list[Any],
        removed: dict[str, int],
    ) -> None:

        w = self.stdout.write
        db = connection.settings_dict
        broker = str(settings.CELERY_BROKER_URL).split("://", 1)[0]
        layer = settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1]
        w(
            f"Steward bench: {bench.NODES}-node linear graph, one scripted model call per node, durability=sync\n"
            f"database {connection.vendor} ({db['NAME']}), broker {broker}://, channel layer {layer}, "
            # DEBUG=True makes Django log every query: it slows (b)'s ORM calls a little.
            f"DEBUG={settings.DEBUG}\n"
            f"{trials} trials x {runs} runs of each variant, interleaved; medians of per-trial throughput\n"
        )
        w(f"{'trial':<7}{'order':<7}{'bare ms/run':>12}{'bare runs/s':>13}{'steward ms/run':>16}{'steward runs/s':>16}{'ratio':>8}")
        for i, (order, a, b) in enumerate(zip(orders, bare_s, steward_s, strict=True)):
            w(f"{i + 1:<7}{order:<7}{a / runs * 1000:>12.2f}{runs / a:>13.1f}{b / runs * 1000:>16.2f}{runs / b:>16.1f}{b / a:>8.2f}")
        bare_rps = median([runs / s for s in bare_s])
        steward_rps = median([runs / s for s in steward_s])
        if bare_rps is None or steward_rps is None:
            raise CommandError("no trial ran: nothing to report")
        ratio = bare_rps / steward_rps
        w(f"{'median':<14}{1000 / bare_rps:>12.2f}{bare_rps:>13.1f}{1000 / steward_rps:>16.2f}{steward_rps:>16.1f}{ratio:>8.2f}")
        w(f"Steward adds {1000 / steward_rps - 1000 / bare_rps:.2f} ms per run ({bench.NODES} node + {bench.NODES} model spans).\n")

        w(f"Approval round trip: {len(trips)} decisions (after {APPROVAL_WARMUP} untimed), worker thread in this process")
        w(f"{'ms from just before decide()':<44}{'p50':>9}{'p95':>9}{'max':>9}")
        rows = [
            ("decide() returned", [t.decide_ms for t in trips]),
            ("resumed run: next node started (worker)", [t.node_started_ms for t in trips]),
            ("resumed run: next node finished (worker)", [t.node_finished_ms for t in trips]),
            ("its span in the database (polled, 0.5 ms)", [t.visible_ms for t in trips]),
        ]
        for label, values in rows:
            w(f"{label:<44}{percentile(values, 0.5):>9.2f}{percentile(values, 0.95):>9.2f}{max(values):>9.2f}")
        visible = [t.visible_ms for t in trips]
        w("Removed bench data: " + ", ".join(f"{n} {what}" for what, n in removed.items()) + "\n")

        w(f"bare_runs_per_s={bare_rps:.3f}")
        w(f"steward_runs_per_s={steward_rps:.3f}")
        w(f"overhead_ratio={ratio:.4f}")
        w(f"approval_roundtrip_p50_ms={percentile(visible, 0.5):.3f}")
        w(f"approval_roundtrip_p95_ms={percentile(visible, 0.95):.3f}")
