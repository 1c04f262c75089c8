"""The dashboard's figures: runs, errors, durations, tokens and cost, approvals, recent failures.

Everything comes from seven queries whatever the number of runs, spans or requests: each chart is
one grouped query over the window (`GROUP BY bucket[, agent | model]`), never a query per bucket
or per row. Percentiles are computed by Postgres (`percentile_cont`); SQLite has no such aggregate,
so there the durations are fetched as timestamps and interpolated the same way in Python
(`approvals.stats.percentile`). The number of queries is the same on both.

The window is 24 hourly buckets (`24h`, the current hour last) or 7 or 30 daily buckets (`7d`,
`30d`, today last), in the current time zone. Runs are placed in a bucket by `created_at`, the
field the runs list is ordered and filtered by, so a bucket's link lists the same runs the bucket
counted. Every series has exactly one value per bucket, oldest first, so charts have no gaps.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

from django.db import connections
from django.db.models import Count, DurationField, F, Q, QuerySet, Sum
from django.db.models.functions import Trunc
from django.urls import reverse
from django.utils import timezone

from agents.engine import circuit
from agents.engine.dead_letters import open_count
from agents.engine.models import Run
from approvals.models import ApprovalRequest
from approvals.stats import TIMED_OUTCOMES, PercentileCont
from console.kernel.statistics import percentile
from traces.recording.models import Span

__all__ = [
    "DEFAULT_WINDOW", "WINDOWS", "Window", "dashboard", "error_summary", "get_window", "operations", "runs_url",
]

# How many failed runs the "to look at" list shows.
FAILED_RUNS_SHOWN = 10
# An error's first line is cut here: the list is for a glance, the run page has the rest.
ERROR_LINE_CHARS = 200


@dataclass(frozen=True)
class Window:
    """A period the dashboard can show: `count` buckets of one `unit`, the current one last."""

    key: str
    label: str
    unit: Literal["hour", "day"]
    count: int

    def bucket_starts(self, now: datetime) -> list[datetime]:
        """The start of each bucket, oldest first, plus the end of the last one (`count + 1` items)."""
        local = timezone.localtime(now)
        if self.unit == "hour":
            # Hours are added in UTC, so a change to or from summer time neither skips nor
            # repeats a bucket (the database truncates to the same instants).
            current = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
            return [timezone.localtime(current + timedelta(hours=i)) for i in range(1 - self.count, 2)]
        # Days are calendar days: local midnight to local midnight, 23 or 25 hours around a change.
        today = local.date()
        return [
            timezone.make_aware(datetime.combine(today + timedelta(days=i), time.min))
            for i in range(1 - self.count, 2)
        ]

    def bucket_label(self, start: datetime) -> str:
        return timezone.localtime(start).strftime("%H:%M" if self.unit == "hour" else "%m-%d")


WINDOWS: dict[str, Window] = {
    w.key: w
    for w in (
        Window("24h", "Last 24 hours", "hour", 24),
        Window("7d", "Last 7 days", "day", 7),
        Window("30d", "Last 30 days", "day", 30),
    )
}
DEFAULT_WINDOW = "24h"


def get_window(key: str | None) -> Window:
    """The window named by `?window=`; the default for a missing or unknown name."""
    return WINDOWS.get(key or "", WINDOWS[DEFAULT_WINDOW])


def iso(moment: datetime) -> str:
    """A timestamp for a link: UTC with `Z`, so no `+` needs escaping and every parser reads it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def runs_url(**params: Any) -> str:
    """The runs list filtered by `params` (`status`, `agent`, `model`, `since`, `until`, `has_error`).

    Datetimes become ISO strings; empty values are left out so a link carries only real filters.
    """
    query = {k: iso(v) if isinstance(v, datetime) else v for k, v in params.items() if v not in (None, "")}
    return reverse("run_list") + ("?" + urlencode(query) if query else "")


def error_summary(error: str) -> str:
    """The first non-empty line of an error, shortened: what a person scans a list for."""
    line = next((ln.strip() for ln in error.splitlines() if ln.strip()), "")
    return line if len(line) <= ERROR_LINE_CHARS else line[: ERROR_LINE_CHARS - 1] + "…"


def _in_database(queryset: QuerySet[Any]) -> bool:
    """Whether the database computes percentiles (Postgres) or Python must (SQLite)."""
    return connections[queryset.db].vendor == "postgresql"


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def _rate(part: int, whole: int) -> float | None:
    # None, not 0, when nothing finished: "no data" must not read as "no errors".
    return round(part / whole, 4) if whole else None


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _percentiles(durations: Iterable[float]) -> tuple[float | None, float | None]:
    values = list(durations)
    return percentile(values, 0.5), percentile(values, 0.95)


def _series_by_key(
    rows: Iterable[dict[str, Any]], key: str, starts: list[datetime], fields: tuple[str, ...]
) -> dict[str, dict[str, list[Any]]]:
    """`{key value: {field: [value per bucket]}}` from grouped rows, zeros where a bucket had none."""
    index = {start: i for i, start in enumerate(starts)}
    series: dict[str, dict[str, list[Any]]] = {}
    for row in rows:
        position = index.get(row["bucket"])
        if position is None:  # a row from the future (clock skew): the window ends now
            continue
        entry = series.setdefault(row[key], {field: [0] * len(starts) for field in fields})
        for field in fields:
            entry[field][position] = row[field] or 0
    return series


def dashboard(
    window: Window | str = DEFAULT_WINDOW,
    now: datetime | None = None,
    approvals: QuerySet[ApprovalRequest] | None = None,
) -> dict[str, Any]:
    """Every figure and series of the dashboard for `window`, ending at `now`.

    Args:
        window: a `Window` or its key (`24h`, `7d`, `30d`).
        now: the end of the window (default: now); tests pass a fixed moment.
        approvals: the approval requests to count, e.g. `ApprovalRequest.objects.visible_to(user)`
            so a reviewer's figure matches their inbox; all requests when None.

    Returns:
        A JSON-serialisable dict (through DjangoJSONEncoder, for the datetimes):
        window, unit, since, until; buckets: `[{start, end, label}]`;
        runs: window totals (`total`, `by_status`, `finished`, `failed`, `error_rate` = failed over
        finished, `p50_seconds`, `p95_seconds` of `finished_at - started_at` (the runs' `wall_ms`) over finished runs,
        `tokens_in`, `tokens_out`, `cost`);
        series: per bucket `runs_by_status` `{status: [n]}`, `error_rate`, `p50_seconds`,
        `p95_seconds`;
        agents / models: `[{name, runs | calls, tokens_in, tokens_out, cost, series: {tokens,
        cost}}]`, most tokens first (models from spans of kind "model" of runs in the window);
        approvals: `pending` now, `decided` in the window, `median_decision_seconds`,
        `p95_decision_seconds`, and per bucket `decided_by_bucket`, `median_by_bucket`;
        failed_runs: the newest failed runs of the window (`id`, `agent`, `error`,
        `finished_at`, `created_at`), most recently finished first;
        links: runs-list URLs for the figures, and per bucket for the charts.
    """
    if isinstance(window, str):
        window = get_window(window)
    now = now or timezone.now()
    edges = window.bucket_starts(now)
    starts, since = edges[:-1], edges[0]
    n = len(starts)
    index = {start: i for i, start in enumerate(starts)}
    statuses = list(Run.Status.values)
    finished = Q(status__in=Run.FINISHED)
    duration = F("finished_at") - F("started_at")

    runs = Run.objects.filter(created_at__gte=since, created_at__lt=edges[-1]).order_by()
    in_database = _in_database(runs)
    bucket = Trunc("created_at", window.unit)

    # 1. Per bucket: runs by status, and (on Postgres) the duration percentiles.
    per_bucket: dict[str, Any] = {s: Count("id", filter=Q(status=s)) for s in statuses}
    if in_database:
        per_bucket["p50"] = PercentileCont(duration, 0.5, filter=finished, output_field=DurationField())
        per_bucket["p95"] = PercentileCont(duration, 0.95, filter=finished, output_field=DurationField())
    by_status = {s: [0] * n for s in statuses}
    p50_series: list[float | None] = [None] * n
    p95_series: list[float | None] = [None] * n
    for row in runs.annotate(bucket=bucket).values("bucket").annotate(**per_bucket):
        i = index.get(row["bucket"])
        if i is None:
            continue
        for s in statuses:
            by_status[s][i] = row[s]
        if in_database:
            p50_series[i], p95_series[i] = _seconds(row["p50"]), _seconds(row["p95"])

    # 2. The window's percentiles: they cannot be derived from the buckets' own.
    if in_database:
        totals = runs.aggregate(
            p50=PercentileCont(duration, 0.5, filter=finished, output_field=DurationField()),
            p95=PercentileCont(duration, 0.95, filter=finished, output_field=DurationField()),
        )
        p50, p95 = _seconds(totals["p50"]), _seconds(totals["p95"])
    else:
        durations: dict[int, list[float]] = defaultdict(list)
        rows = (
            runs.filter(finished, started_at__isnull=False, finished_at__isnull=False)
            .annotate(bucket=bucket)
            .values_list("bucket", "started_at", "finished_at")
        )
        for start, started_at, finished_at in rows:
            if start in index and started_at is not None and finished_at is not None:
                durations[index[start]].append((finished_at - started_at).total_seconds())
        for i, values in durations.items():
            p50_series[i], p95_series[i] = _percentiles(values)
        p50, p95 = _percentiles(d for values in durations.values() for d in values)

    # 3. Tokens and cost per agent per bucket, from the totals each run carries.
    agent_rows = (
        runs.annotate(bucket=bucket)
        .values("bucket", agent_key=F("agent__key"))
        .annotate(
            runs=Count("id"), tokens_in=Sum("tokens_in"), tokens_out=Sum("tokens_out"), cost=Sum("cost")
        )
    )
    agents = _breakdown(
        _series_by_key(agent_rows, "agent_key", starts, ("runs", "tokens_in", "tokens_out", "cost")), "runs"
    )

    # 4. Tokens and cost per model per bucket, from the model calls of the window's runs. Spans
    # are reached through their runs (the runs' created_at index, then the spans' (run, seq)
    # index) and bucketed by the run's creation, so a bucket's link lists the runs it counted.
    model_rows = (
        Span.objects.filter(kind=Span.Kind.MODEL, run__created_at__gte=since, run__created_at__lt=edges[-1])
        .order_by()
        .annotate(bucket=Trunc("run__created_at", window.unit))
        .values("bucket", "model")
        .annotate(
            calls=Count("id"), tokens_in=Sum("tokens_in"), tokens_out=Sum("tokens_out"), cost=Sum("cost")
        )
    )
    models = _breakdown(
        _series_by_key(model_rows, "model", starts, ("calls", "tokens_in", "tokens_out", "cost")), "calls"
    )

    # 5 and 6. Approvals: the backlog now, and the time to decision of requests decided in the window.
    approvals_data = _approvals(approvals, window, since, index, n, in_database)

    # 7. The newest failures of the window, without their (possibly large) inputs and tracebacks.
    failed = (
        Run.objects.filter(status=Run.Status.FAILED, created_at__gte=since)
        .select_related("agent")
        .only("id", "error", "created_at", "finished_at", "agent__key")
        .order_by(F("finished_at").desc(nulls_last=True), "-created_at", "-id")[:FAILED_RUNS_SHOWN]
    )
    failed_runs = [
        {
            "id": str(run.id),
            "agent": run.agent.key,
            "error": error_summary(run.error),
            "finished_at": run.finished_at,
            "created_at": run.created_at,
            "url": reverse("run_detail", args=[run.id]),
        }
        for run in failed
    ]

    finished_per_bucket = [sum(by_status[s][i] for s in Run.FINISHED) for i in range(n)]
    failed_total = sum(by_status[Run.Status.FAILED])
    finished_total = sum(finished_per_bucket)
    status_totals = {s: sum(by_status[s]) for s in statuses}
    buckets = [
        {"start": start, "end": end, "label": window.bucket_label(start)}
        for start, end in zip(starts, edges[1:], strict=True)
    ]
    return {
        "window": window.key,
        "unit": window.unit,
        "since": since,
        "until": now,
        "buckets": buckets,
        "runs": {
            "total": sum(status_totals.values()),
            "by_status": status_totals,
            "finished": finished_total,
            "failed": failed_total,
            "error_rate": _rate(failed_total, finished_total),
            "p50_seconds": _round(p50),
            "p95_seconds": _round(p95),
            "tokens_in": sum(a["tokens_in"] for a in agents),
            "tokens_out": sum(a["tokens_out"] for a in agents),
            "cost": round(sum(a["cost"] for a in agents), 6),
        },
        "series": {
            "runs_by_status": by_status,
            "error_rate": [_rate(by_status[Run.Status.FAILED][i], finished_per_bucket[i]) for i in range(n)],
            "p50_seconds": [_round(v) for v in p50_series],
            "p95_seconds": [_round(v) for v in p95_series],
        },
        "agents": agents,
        "models": models,
        "approvals": approvals_data,
        "failed_runs": failed_runs,
        "links": _links(buckets, since, agents, models),
    }


def operations(now: datetime | None = None) -> dict[str, Any]:
    """What keeps runs going, now (not over the window), in two queries: each model provider's
    circuit breaker (agents/engine/circuit.py) and how many failed runs wait in the dead-letter list.

    Returns:
        {"circuits": [{provider, state, failures, failures_total, opened_at, retry_at,
        cooling_down, last_failure_at, last_error}], "dead_letters": int}.
    """

    circuits = circuit.states(now)
    for row in circuits:
        row["last_error"] = error_summary(row["last_error"] or "")
    return {"circuits": circuits, "dead_letters": open_count()}


def _breakdown(series: dict[str, dict[str, list[Any]]], count_field: str) -> list[dict[str, Any]]:
    """Per agent (or model): window totals and per-bucket tokens and cost, most tokens first."""
    out = []
    for name, s in series.items():
        tokens = [i + o for i, o in zip(s["tokens_in"], s["tokens_out"], strict=True)]
        out.append(
            {
                "name": name,
                count_field: sum(s[count_field]),
                "tokens_in": sum(s["tokens_in"]),
                "tokens_out": sum(s["tokens_out"]),
                "tokens": sum(tokens),
                "cost": round(sum(s["cost"]), 6),
                "series": {"tokens": tokens, "cost": [round(c, 6) for c in s["cost"]]},
            }
        )
    return sorted(out, key=lambda e: (-e["tokens"], -e["cost"], e["name"]))


def _approvals(
    approvals: QuerySet[ApprovalRequest] | None,
    window: Window,
    since: datetime,
    index: dict[datetime, int],
    n: int,
    in_database: bool,
) -> dict[str, Any]:
    """The pending backlog and the time to decision (`decided_at - created_at`), in two queries."""
    requests = (approvals if approvals is not None else ApprovalRequest.objects.all()).order_by()
    pending = Q(status=ApprovalRequest.Status.PENDING)
    # A cancellation is no decision (the run went away): only timed outcomes count, as in the
    # queue statistics, so the two pages agree.
    decided = Q(status__in=TIMED_OUTCOMES, decided_at__gte=since)
    wait = F("decided_at") - F("created_at")
    bucket = Trunc("decided_at", window.unit)
    decided_by_bucket = [0] * n
    median_by_bucket: list[float | None] = [None] * n

    figures: dict[str, Any] = {"pending": Count("id", filter=pending), "decided": Count("id", filter=decided)}
    if in_database:
        figures["median"] = PercentileCont(wait, 0.5, filter=decided, output_field=DurationField())
        figures["p95"] = PercentileCont(wait, 0.95, filter=decided, output_field=DurationField())
    totals = requests.filter(pending | decided).aggregate(**figures)

    if in_database:
        median, p95 = _seconds(totals["median"]), _seconds(totals["p95"])
        rows = (
            requests.filter(decided)
            .annotate(bucket=bucket)
            .values("bucket")
            .annotate(n=Count("id"), median=PercentileCont(wait, 0.5, output_field=DurationField()))
        )
        for row in rows:
            if row["bucket"] in index:
                decided_by_bucket[index[row["bucket"]]] = row["n"]
                median_by_bucket[index[row["bucket"]]] = _seconds(row["median"])
    else:
        waits: dict[int, list[float]] = defaultdict(list)
        for start, created_at, decided_at in (
            requests.filter(decided).annotate(bucket=bucket).values_list("bucket", "created_at", "decided_at")
        ):
            if start in index and decided_at is not None:
                waits[index[start]].append((decided_at - created_at).total_seconds())
        for i, values in waits.items():
            decided_by_bucket[i], median_by_bucket[i] = len(values), percentile(values, 0.5)
        median, p95 = _percentiles(w for values in waits.values() for w in values)

    return {
        "pending": totals["pending"],
        "decided": totals["decided"],
        "median_decision_seconds": _round(median),
        "p95_decision_seconds": _round(p95),
        "decided_by_bucket": decided_by_bucket,
        "median_by_bucket": [_round(v) for v in median_by_bucket],
    }


def _links(
    buckets: list[dict[str, Any]], since: datetime, agents: list[dict[str, Any]], models: list[dict[str, Any]]
) -> dict[str, Any]:
    """Runs-list URLs: for each figure (the whole window), and for each bucket of each chart.

    Built here rather than in the browser so the page's script only follows them, and so the
    filters a link carries are tested with the figures they explain.
    """

    def per_bucket(**params: Any) -> list[str]:
        return [runs_url(**params, since=b["start"], until=b["end"]) for b in buckets]

    return {
        "runs": runs_url(since=since),
        "failed": runs_url(status=Run.Status.FAILED, since=since),
        "by_status": {s: per_bucket(status=s) for s in Run.Status.values},
        "failed_by_bucket": per_bucket(status=Run.Status.FAILED),
        "runs_by_bucket": per_bucket(),
        "agents": {a["name"]: runs_url(agent=a["name"], since=since) for a in agents},
        "agents_by_bucket": {a["name"]: per_bucket(agent=a["name"]) for a in agents},
        "models": {m["name"]: runs_url(model=m["name"], since=since) for m in models if m["name"]},
        "models_by_bucket": {m["name"]: per_bucket(model=m["name"]) for m in models if m["name"]},
    }
