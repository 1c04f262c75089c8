"""`manage.py bench_pages`: the runs list, a 2,000-span run's page and a 10,000-request inbox at
volume, over ASGI (daphne, DEBUG off, a real login session), several pages deep.

Seeds the configured database first unless it holds this volume already (console/harness/
volume_seed.py: COPY into the real tables; 100,000 runs / 2,000,000 spans take a while once),
then times the pages (console/harness/bench_pages.py). Use a Postgres database of its own::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/steward_volume manage.py bench_pages
    manage.py bench_pages --runs 10000 --spans 200000 --pending 1000   # smaller, quicker

The last lines are `name=value` each; `manage.py bench --pages` prints the same three.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from agents.engine.models import Run
from console.harness.bench_pages import BenchPagesError, PageTimings, measure_pages, p4_lines
from console.harness.volume_seed import SeedError, Volume, seed
from console.kernel.arguments import non_negative, positive
from traces.recording.models import Span

# As `manage.py bench` judges it (issue 18): a run that starts above this load is noisy.
NOISY_LOAD = 1.5
GOALS_MS = {"p4_runs_html": 100, "p4_run_page_2000": 300, "p4_inbox_html_10k": 100}


def add_volume_arguments(parser: CommandParser, short: bool = False) -> None:
    """The seed's size and the walk's shape: shared with `manage.py bench --pages` (where --runs
    means something else, so the short names are bench_pages' own)."""
    defaults = Volume()
    names = {key: ([f"--{key}"] if short else []) + [f"--volume-{key}"] for key in ("runs", "spans", "pending")}
    parser.add_argument(*names["runs"], dest="volume_runs", type=positive, default=defaults.runs, help="runs to seed")
    parser.add_argument(*names["spans"], dest="volume_spans", type=positive, default=defaults.spans, help="spans over those runs")
    parser.add_argument(
        *names["pending"], dest="volume_pending", type=non_negative, default=defaults.pending, help="pending approval requests"
    )
    parser.add_argument("--big-run", type=positive, default=defaults.big_run_spans, help="spans of the big run")
    parser.add_argument("--rounds", type=positive, default=3, help="timed walks of every page (after one untimed)")
    parser.add_argument("--depth", type=positive, default=5, help="pages followed through 'next' in each list")
    parser.add_argument("--run-page-repeat", type=positive, default=10, help="GETs of the big run's page per round")


def volume_of(options: dict[str, Any]) -> Volume:
    return Volume(options["volume_runs"], options["volume_spans"], options["big_run"], options["volume_pending"])


def run_page_bench(options: dict[str, Any], say: Any) -> list[PageTimings]:
    """Seed if needed, then time the pages. Raises CommandError with what went wrong."""
    volume = volume_of(options)
    try:
        seed(volume, say)
        return measure_pages(volume, options["rounds"], options["depth"], options["run_page_repeat"])
    except (SeedError, BenchPagesError) as exc:
        raise CommandError(str(exc)) from exc


class Command(BaseCommand):
    help = (
        "Seed runs, spans and pending approvals at volume with COPY (once per database), then time the runs "
        "list (filters, pages deep), a 2,000-span run page and the inbox over daphne with DEBUG off."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_volume_arguments(parser, short=True)
        parser.add_argument("--seed-only", action="store_true", help="seed (if needed) and stop")

    def handle(self, *args: Any, **options: Any) -> None:
        say = self.stderr.write
        if options["seed_only"]:
            try:
                seed(volume_of(options), say)
            except SeedError as exc:
                raise CommandError(str(exc)) from exc
            return
        load_start = os.getloadavg()[0]
        results = run_page_bench(options, say)
        load_end = os.getloadavg()[0]
        w = self.stdout.write
        # Two cores shared with others: a loaded machine stretches every figure; say so.
        w(f"1-minute load average: {load_start:.2f} at the start, {load_end:.2f} at the end on {os.cpu_count()} CPUs")
        w(f"database {connection.settings_dict['NAME']}: {Run.objects.count():,} runs, ~{_estimate('traces_span'):,} spans")
        w(
            f"{'group':<22}{'GETs':>6}{'urls':>6}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'largest KiB':>13}"
            f"{'server CPU ms/GET':>19}{'goal p95':>10}"
        )
        for r in results:
            w(
                f"{r.name:<22}{len(r.ms):>6}{len(r.pages):>6}{r.p50:>9.1f}{r.p95:>9.1f}{max(r.ms):>9.1f}"
                f"{r.largest / 1024:>13.0f}{r.server_cpu_ms:>19.1f}{GOALS_MS[r.name]:>10}"
            )
        for line in p4_lines(results):
            w(line)
        w(f"noisy={int(load_start > NOISY_LOAD)}")


def _estimate(table: str) -> int:
    # The planner's count: an exact COUNT(*) of two million spans takes seconds.
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [table])
        row = cursor.fetchone()
    return int(row[0]) if row else Span.objects.count()
