"""`manage.py bench_replay`: a recorded replay's duration against the original's, 10-node graph.

A run is timed from its creation to its stop: `start_run` then the worker's `execute` for an
original; `replay` (which copies the original's checkpoints and spans, traces/inspection/replay.py)
then `execute` (which invokes nothing) for a recorded replay. `p7_replay_ratio` is the replay's
median over the original's (goal: at most 0.5).
"""

from __future__ import annotations

import statistics
import time
from functools import partial
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

        def timed(create: Any) -> tuple[float, Any]:
            started = time.perf_counter()
            run = create()
            if runtime.execute(run.id) != "succeeded":
                raise RuntimeError(f"run {run.id} did not succeed")
            return time.perf_counter() - started, run

        def original() -> Any:
            return start_run(bench.BENCH_LINEAR, {}, user)

        try:
            for _ in range(options["runs"]):
                seconds, source = timed(original)
                originals.append(seconds)
                source.refresh_from_db()
                replays.append(timed(partial(replay, source, user, mode="recorded"))[0])
                # An original after the replay as well, so neither variant always runs first.
                originals.append(timed(original)[0])
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
        self.stdout.write(f"p7_replay_ratio={replay_ms / original_ms:.3f}")
