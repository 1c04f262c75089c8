"""`manage.py bench_approvals`: server time and queries of listing and deciding approvals at volume.

Seed first (`manage.py seed_approvals --pending 10000`), on a database of its own: this command
decides `--repeat + --warmup + 1` pending requests for real (their runs are re-queued, a Celery
message is sent to the configured broker and audit events are written, as for any decision).

It times, in this process through `django.test.Client` (the whole Django stack: middleware, API
key authentication, the endpoint, JSON rendering; no network):

- `GET /api/approvals?status=pending` at the default page (100) and at the largest (200);
- `POST /api/approvals/{id}/decision` (approve), each on a different pending request;
- `GET /api/queues` and `GET /api/queues/{queue}/stats` (the queue of the newest pending request);

as a non-admin reviewer (the `visible_to` subquery path), and prints p50/p95 over `--repeat`
calls after `--warmup` untimed ones, the queries of one more call of each (with
CaptureQueriesContext), and the database plan of the list's main query (EXPLAIN ANALYZE on
Postgres, EXPLAIN QUERY PLAN on SQLite). The last lines are one `name=value` each.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from approvals.models import ApprovalRequest
from console.harness.timing import time_calls
from console.kernel.arguments import positive
from console.kernel.models import ApiKey
from console.kernel.roles import REVIEWERS
from console.kernel.statistics import percentile

BENCH_REVIEWER = "bench-approvals-reviewer"
LIST_URL = "/api/approvals"
DEFAULT_PAGE, MAX_PAGE = 100, 200


class Command(BaseCommand):
    help = (
        "Time GET /api/approvals?status=pending (pages of 100 and 200) and POST /api/approvals/{id}/decision "
        "in-process, count their queries and EXPLAIN the list query. Needs pending requests (seed_approvals) "
        "and decides some of them: use a database of its own."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--repeat", type=positive, default=20, help="timed calls of each endpoint")
        parser.add_argument("--warmup", type=positive, default=3, help="untimed calls of each endpoint first")
        parser.add_argument("--show-queries", action="store_true", help="print every query of the counted calls")
        parser.add_argument(
            "--freeze-gc",
            action="store_true",
            help="gc.freeze() after warming up, as a server could after startup: the objects loaded at import "
            "time are then no longer traversed by every full (generation 2) collection",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        repeat, warmup = options["repeat"], options["warmup"]
        needed = repeat + warmup + 1
        # Checked before anything is written, so a run against the wrong database leaves no trace.
        available = ApprovalRequest.objects.pending().filter(queue__reviewer_groups__name=REVIEWERS).count()
        if available < max(needed, MAX_PAGE):
            raise CommandError(
                f"only {available} pending requests in queues the {REVIEWERS!r} group reviews; seed first: "
                f"manage.py seed_approvals --pending 10000"
            )
        reviewer = self._reviewer()
        key, raw = ApiKey.issue(reviewer)
        client = Client(raise_request_exception=True, headers={"Authorization": f"Bearer {raw}"})
        try:
            pending = (
                ApprovalRequest.objects.visible_to(reviewer)
                .pending()
                .exclude(requested_by=reviewer)
                .order_by("created_at", "id")
            )
            total = pending.count()
            # The newest ones: deciding them leaves the pages being listed unchanged.
            newest = list(pending.reverse().values_list("id", "queue__name")[:needed])
            to_decide = [str(approval_id) for approval_id, _ in newest]
            queue_name = newest[0][1]
            self.stdout.write(
                f"{connection.vendor}, DEBUG={settings.DEBUG}, {total} pending requests visible to "
                f"{reviewer.username}; {repeat} timed calls after {warmup} untimed ones"
            )

            def list_page(limit: int) -> Callable[[], Any]:
                def call() -> Any:
                    query: dict[str, str | int] = {"status": "pending", "limit": limit}
                    response = client.get(LIST_URL, query)
                    # Only the status here: parsing 200 items would add client time to the figure.
                    if response.status_code != 200:
                        raise CommandError(f"GET {LIST_URL}: {response.status_code} {response.content[:300]!r}")
                    return response

                return call

            def decide() -> Any:
                approval_id = to_decide.pop()
                response = client.post(
                    f"{LIST_URL}/{approval_id}/decision",
                    json.dumps({"decision": "approve", "comment": "bench"}),
                    content_type="application/json",
                )
                if response.status_code != 200:
                    raise CommandError(f"decision on {approval_id}: {response.status_code} {response.content[:300]!r}")
                return response

            def get(url: str) -> Callable[[], Any]:
                def call() -> Any:
                    response = client.get(url)
                    if response.status_code != 200:
                        raise CommandError(f"GET {url}: {response.status_code} {response.content[:300]!r}")
                    return response

                return call

            figures: dict[str, float] = {}
            cases = [
                (f"list_{DEFAULT_PAGE}", f"GET {LIST_URL}?status=pending (limit {DEFAULT_PAGE}, the default)", list_page(DEFAULT_PAGE)),
                (f"list_{MAX_PAGE}", f"GET {LIST_URL}?status=pending&limit={MAX_PAGE} (the largest page)", list_page(MAX_PAGE)),
                ("decision", f"POST {LIST_URL}/{{id}}/decision (approve)", decide),
                ("queues", "GET /api/queues", get("/api/queues")),
                ("stats", f"GET /api/queues/{queue_name}/stats (30 days)", get(f"/api/queues/{queue_name}/stats")),
            ]
            if options["freeze_gc"]:
                for _, _, call in cases[:2]:
                    call()
                gc.collect()
                gc.freeze()
                self.stdout.write(f"gc.freeze(): {gc.get_freeze_count()} objects left out of collections")
            captured: dict[str, list[dict[str, Any]]] = {}
            for name, label, call in cases:
                timings, db_timings, size = time_calls(call, repeat, warmup)
                with CaptureQueriesContext(connection) as queries:
                    response = call()
                if name.startswith("list_") and len(response.json()["items"]) != int(name.removeprefix("list_")):
                    raise CommandError(f"{label}: a short page ({len(response.json()['items'])} items); seed more")
                # A copy: the next request's request_started signal empties the connection's log.
                captured[name] = list(queries.captured_queries)
                figures[f"{name}_p50_ms"] = percentile(timings, 0.5) or 0.0
                figures[f"{name}_p95_ms"] = percentile(timings, 0.95) or 0.0
                figures[f"{name}_queries"] = len(captured[name])
                self.stdout.write(
                    f"\n{label}\n  p50 {figures[f'{name}_p50_ms']:.1f} ms, p95 {figures[f'{name}_p95_ms']:.1f} ms, "
                    f"min {min(timings):.1f} ms, max {max(timings):.1f} ms; {len(captured[name])} queries taking "
                    f"p50 {percentile(db_timings, 0.5) or 0.0:.1f} ms in all (the rest is Python); "
                    f"response {size / 1024:.0f} KiB"
                )
                for query in captured[name]:
                    text = query["sql"] if options["show_queries"] else query["sql"][:150]
                    self.stdout.write(f"    {text}")

            self._explain(captured[f"list_{DEFAULT_PAGE}"])
            self.stdout.write("")
            for name, value in figures.items():
                self.stdout.write(f"{name}={value:.1f}" if name.endswith("_ms") else f"{name}={int(value)}")
        finally:
            # The reviewer stays (its decisions point at it); its key does not.
            key.delete()

    def _reviewer(self) -> Any:
        user, _ = get_user_model().objects.get_or_create(username=BENCH_REVIEWER)
        user.groups.add(Group.objects.get_or_create(name=REVIEWERS)[0])
        return user

    def _explain(self, queries: list[dict[str, Any]]) -> None:
        """The plan of the list's main query (the one that pages through approval requests)."""
        main = next(
            (
                q["sql"]
                for q in queries
                if 'FROM "approvals_approvalrequest"' in q["sql"] and "ORDER BY" in q["sql"] and "LIMIT" in q["sql"]
            ),
            None,
        )
        if main is None:
            self.stdout.write("\n(no list query found to explain)")
            return
        prefix = "EXPLAIN (ANALYZE, BUFFERS) " if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN "
        with connection.cursor() as cursor:
            cursor.execute(prefix + main)
            rows = cursor.fetchall()
        self.stdout.write(f"\n{prefix.strip()} of the list query:")
        for row in rows:
            self.stdout.write("  " + " ".join(str(c) for c in row))
