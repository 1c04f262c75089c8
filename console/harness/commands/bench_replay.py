"""`manage.py bench_replay`: a recorded replay's duration against the original's, 10-node graph."""

from __future__ import annotations

import statistics
import time
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from agents.engine import runtime
from agents.engine.services import start_run
from console.celery import app
from console.harness import bench
from traces.inspection.replay import replay


class Command(BaseCommand):
    help = "Time runs of the 10-node bench graph and their recorded replays in this process; prints the ratio."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--runs", type=int, default=30)

    def handle(self, *args: Any, **options: Any) -> None:

        bench.ensure_bench_agents()
        user, created = get_user_model().objects.get_or_create(username="bench-replay")
        originals: list[float] = []
        replays: list[float] = []

        def timed(run_id: Any) -> float:
            started = time.perf_counter()
            if runtime.execute(run_id) != "succeeded":
                raise RuntimeError(f"run {run_id} did not succeed")
            return time.perf_counter() - started

        try:
            for _ in range(options["runs"]):
                source = start_run(bench.BENCH_LINEAR, {}, user)
                originals.append(timed(source.id))
                source.refresh_from_db()
                replays.append(timed(replay(source, user, mode="recorded").id))
                # An original after the replay as well, so neither variant always runs first.
                originals.append(timed(start_run(bench.BENCH_LINEAR, {}, user).id))
        finally:
            app.control.purge()  # the messages start_run sent; this process ran the runs itself
            bench.cleanup()
            if created:
                user.delete()
        skip = max(1, options["runs"] // 6)  # warm-up
        original_ms = statistics.median(originals[2 * skip :]) * 1000
        replay_ms = statistics.median(replays[skip:]) * 1000
        self.stdout.write(f"original_ms_p50={original_ms:.2f}")
        self.stdout.write(f"recorded_replay_ms_p50={replay_ms:.2f}")
        self.stdout.write(f"replay_over_original={replay_ms / original_ms:.3f}")
