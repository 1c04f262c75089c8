"""`manage.py bench_inspect`: server time and queries of the run list and run pages at volume.

Seed first, on a database of its own::

    manage.py seed_runs --runs 100000 --spans-per-run 20 --big-run 2000

It times, in this process through `django.test.Client` logged in as an engineer (the whole Django
stack: middleware, session, the view, templates or JSON; no network):

- `GET /api/runs` with no filter, `?status=failed`, `?agent=refund` and `?q=<a seeded word>`;
- `GET /runs/` (the page);
- `GET /runs/<id>/` of the run with the most spans (the one `--big-run` made), and its graph and
  checkpoints pages;

and prints p50/p95 over `--repeat` calls after `--warmup` untimed ones, the queries of one more call
of each (CaptureQueriesContext) with the slowest one, and the plan of the slowest list query
(EXPLAIN ANALYZE on Postgres, EXPLAIN QUERY PLAN on SQLite). The last lines are `name=value` each.
Nothing is written except the bench user.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.test.utils import CaptureQueriesContext

from agents.engine.models import Run
from console.harness.commands.seed_runs import SEARCH_WORD
from console.harness.timing import time_calls
from console.kernel.arguments import positive
from console.kernel.roles import ENGINEERS
from console.kernel.statistics import percentile
from traces.recording.models import Span

BENCH_ENGINEER = "bench-inspect-engineer"


@dataclass
class Case:
    name: str
    url: str
    is_list: bool


@dataclass
class Result:
    case: Case
    timings: list[float]
    db_timings: list[float]
    size: int
    queries: list[dict[str, Any]]
    items: int | None

    @property
    def p50(self) -> float:
        return percentile(self.timings, 0.5) or 0.0

    @property
    def p95(self) -> float:
        return percentile(self.timings, 0.95) or 0.0


class Command(BaseCommand):
    help = (
        "Time GET /api/runs (no filter, status, agent, q), GET /runs/ and the page of a run with many spans "
        "in-process as an engineer; count their queries and EXPLAIN the slowest list query. Seed first "
        "(seed_runs --big-run 2000)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--repeat", type=positive, default=20, help="timed calls of each request")
        parser.add_argument("--warmup", type=positive, default=2, help="untimed calls of each request first")
        parser.add_argument("--q", default=SEARCH_WORD, help="the word to search for (?q=)")
        parser.add_argument("--agent", default="refund", help="the agent to filter by (?agent=)")
        parser.add_argument("--run", default="", help="the run whose page to time (default: the one with most spans)")
        parser.add_argument("--show-queries", action="store_true", help="print every query of the counted calls in full")

    def handle(self, *args: Any, **options: Any) -> None:
        runs = Run.objects.count()
        if runs == 0:
            raise CommandError("no runs: seed first, e.g. manage.py seed_runs --runs 100000 --big-run 2000")
        big = self._big_run(options["run"])
        spans = Span.objects.filter(run_id=big).count()
        client = Client(raise_request_exception=True)
        client.force_login(self._engineer())
        q = urlencode({"q": options["q"]})
        cases = [
            Case("api_list", "/api/runs", True),
            Case("api_status_failed", "/api/runs?status=failed", True),
            Case("api_agent", f"/api/runs?{urlencode({'agent': options['agent']})}", True),
            Case("api_q", f"/api/runs?{q}", True),
            Case("page_list", "/runs/", True),
            Case("run_page", f"/runs/{big}/", False),
            Case("graph_page", f"/runs/{big}/graph", False),
            Case("checkpoints_page", f"/runs/{big}/checkpoints", False),
        ]
        self.stdout.write(
            f"{connection.vendor}, DEBUG={settings.DEBUG}: {runs:,} runs, {Span.objects.count():,} spans; "
            f"run page of {big} ({spans:,} spans); {options['repeat']} timed calls after {options['warmup']} untimed"
        )
        results = [self._measure(client, case, options["repeat"], options["warmup"]) for case in cases]
        for result in results:
            self._report(result, options["show_queries"])
        lists = [r for r in results if r.case.is_list]
        slowest = max(lists, key=lambda r: r.p50)
        self._explain(slowest)
        self.stdout.write("")
        for result in results:
            name = result.case.name
            self.stdout.write(f"{name}_p50_ms={result.p50:.1f}")
            self.stdout.write(f"{name}_p95_ms={result.p95:.1f}")
            self.stdout.write(f"{name}_queries={len(result.queries)}")

    def _big_run(self, given: str) -> uuid.UUID:
        if given:
            try:
                return Run.objects.get(id=uuid.UUID(given)).id
            except (ValueError, Run.DoesNotExist):
                raise CommandError(f"no run {given!r}") from None
        marked = Run.objects.filter(metadata__big_run=True).order_by("-created_at").values_list("id", flat=True).first()
        if marked:
            return marked
        # No marked run: the one with the most spans (a scan of every span: only a fallback).
        top = Span.objects.values("run_id").annotate(n=Count("id")).order_by("-n").first()
        if top is None:
            raise CommandError("no run has spans: seed with --big-run 2000")
        return top["run_id"]

    def _engineer(self) -> Any:
        user, _ = get_user_model().objects.get_or_create(username=BENCH_ENGINEER)
        user.groups.add(Group.objects.get_or_create(name=ENGINEERS)[0])
        return user

    def _measure(self, client: Client, case: Case, repeat: int, warmup: int) -> Result:
        def call() -> Any:
            response = client.get(case.url)
            if response.status_code != 200:
                raise CommandError(f"GET {case.url}: {response.status_code} {response.content[:300]!r}")
            return response

        timings, db_timings, size = time_calls(call, repeat, warmup)
        with CaptureQueriesContext(connection) as captured:
            response = call()
        items = len(response.json()["items"]) if case.url.startswith("/api/runs") else None
        return Result(case, timings, db_timings, size, list(captured.captured_queries), items)

    def _report(self, result: Result, show_queries: bool) -> None:
        slow = max(result.queries, key=lambda q: float(q["time"]), default=None)
        items = f"; {result.items} items" if result.items is not None else ""
        self.stdout.write(
            f"\nGET {result.case.url}\n  p50 {result.p50:.1f} ms, p95 {result.p95:.1f} ms, min {min(result.timings):.1f} ms, "
            f"max {max(result.timings):.1f} ms; {len(result.queries)} queries taking p50 "
            f"{percentile(result.db_timings, 0.5) or 0.0:.1f} ms in all; response {result.size / 1024:.0f} KiB{items}"
        )
        if slow is not None:
            self.stdout.write(f"  slowest query {float(slow['time']) * 1000:.1f} ms: {slow['sql'][:220]}")
        if show_queries:
            for query in result.queries:
                self.stdout.write(f"    [{float(query['time']) * 1000:.1f} ms] {query['sql']}")

    def _explain(self, result: Result) -> None:
        """The plan of the slowest query of the slowest list request."""
        query = max(result.queries, key=lambda q: float(q["time"]), default=None)
        if query is None:
            return
        prefix = "EXPLAIN (ANALYZE, BUFFERS) " if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN "
        try:
            with connection.cursor() as cursor:
                cursor.execute(prefix + query["sql"])
                rows = cursor.fetchall()
        except Exception as exc:  # the logged SQL is the driver's rendering; it may not run as is
            self.stdout.write(f"\n(could not explain the slowest query of GET {result.case.url}: {exc})")
            return
        self.stdout.write(f"\n{prefix.strip()} of the slowest query of GET {result.case.url}:\n  {query['sql']}")
        for row in rows:
            self.stdout.write("  " + " ".join(str(c) for c in row))
