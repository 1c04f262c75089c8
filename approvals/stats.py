"""Queue statistics: backlog, throughput, time to decision, outcomes, reasons, reviewers.

Everything comes from a handful of aggregate queries whose number does not depend on how many
requests the queue holds (the queues API's stats endpoint is tested for that). Percentiles are
computed by Postgres (`percentile_cont`); SQLite has no such aggregate, so there the decision
times are fetched as pairs of timestamps and interpolated the same way in Python.

The window is whole days in the current time zone (UTC by default): `days=30` means today and
the 29 days before it, so `requests_per_day` always has exactly `days` entries.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import connections
from django.db.models import Aggregate, Count, DurationField, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from approvals.models import ApprovalRequest, Decision, Queue
from console.kernel.statistics import percentile

__all__ = ["percentile", "pending_count_subquery", "queue_stats"]

Status = ApprovalRequest.Status
# What a request can end as; each is counted in `outcomes`.
OUTCOMES = (Status.APPROVED, Status.REJECTED, Status.RESPONDED, Status.EXPIRED, Status.CANCELLED)
# Outcomes that are a decision, by a person or a rule, with a `decided_at`: a cancellation is
# not (the run went away), so it does not count towards the time to decision.
TIMED_OUTCOMES = (Status.APPROVED, Status.REJECTED, Status.RESPONDED, Status.EXPIRED)


class PercentileCont(Aggregate):
    """Postgres `percentile_cont(p) WITHIN GROUP (ORDER BY expr)`: the interpolated percentile.

    Works on intervals too, so the time to decision stays a `timedelta` end to end.
    """

    function = "percentile_cont"
    name = "PercentileCont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be between 0 and 1, not {fraction!r}")
        # A literal, not a parameter: float() guarantees it is only a number, and Postgres
        # wants the same fraction expression wherever the aggregate appears.
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


def pending_count_subquery() -> Coalesce:
    """The number of pending requests of the outer queue, as an annotation.

    A correlated subquery rather than `Count("requests")` over a join: it reads only the pending
    rows through the (status, queue, ...) index instead of grouping every request ever made.
    """
    pending = (
        ApprovalRequest.objects.filter(queue=OuterRef("pk"), status=Status.PENDING)
        .order_by()
        .values("queue")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Coalesce(Subquery(pending), 0)


def window_start(days: int, now: datetime) -> datetime:
    """Midnight, in the current time zone, at the start of the first of the last `days` days."""
    first_day = timezone.localdate(now) - timedelta(days=days - 1)
    return timezone.make_aware(datetime.combine(first_day, time.min))


def _uses_database_percentiles(queryset: QuerySet[Any]) -> bool:
    return connections[queryset.db].vendor == "postgresql"


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def queue_stats(queue: Queue, days: int = 30, now: datetime | None = None) -> dict[str, Any]:
    """Statistics of one queue: the backlog now, and what happened in the last `days` days.

    Keys:
        pending, overdue: requests waiting now, and those of them past their `due_at`.
        requests_per_day: `[{date, count}]` of requests created, one entry per day, oldest first.
        outcomes: how many requests ended in the window as each of approved, rejected, responded,
            expired and cancelled (by `decided_at`, or `created_at` when a cancellation has none).
        decided: the sum of `outcomes`.
        approval_rate, rejection_rate: approved (rejected) over approved + rejected; None when
            neither happened. Responded, expired and cancelled requests are in `outcomes` only,
            since none of them is a verdict on the action.
        median_decision_seconds, p95_decision_seconds: `decided_at - created_at` over requests
            decided in the window (not cancelled ones); None when there are none.
        rejection_reasons: `{reason_code: count}` of rejecting Decision rows in the window
            ("" for a rejection without a code), most frequent first.
        decisions_per_reviewer: `{username: count}` of Decision rows by a person in the window
            (rules' automatic decisions have no user and are left out), most active first.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    now = now or timezone.now()
    since = window_start(days, now)
    requests = ApprovalRequest.objects.filter(queue=queue).order_by()

    # 1. The backlog. With few pending rows Postgres reads them through the (status, queue, ...)
    # index; when most rows are pending it scans the table, which is then the cheaper way to count.
    backlog = requests.filter(status=Status.PENDING).aggregate(
        pending=Count("id"), overdue=Count("id", filter=Q(due_at__lt=now))
    )

    # 2. Arrivals per day; days without any are filled in below, so a chart has no gaps.
    per_day: dict[date, int] = dict(
        requests.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    first_day = timezone.localdate(since)
    requests_per_day = [
        {"date": day, "count": per_day.get(day, 0)} for day in (first_day + timedelta(days=i) for i in range(days))
    ]

    # 3. Outcomes in the window, and (on Postgres) the decision-time percentiles, in one query.
    settled = (
        requests.filter(status__in=OUTCOMES)
        # A cancellation sets no decided_at: place it by when the request arrived instead.
        .alias(settled_at=Coalesce("decided_at", "created_at"))
        .filter(settled_at__gte=since)
    )
    timed = Q(status__in=TIMED_OUTCOMES, decided_at__isnull=False)
    wait = F("decided_at") - F("created_at")
    aggregates: dict[str, Any] = {status.value: Count("id", filter=Q(status=status)) for status in OUTCOMES}
    in_database = _uses_database_percentiles(settled)
    if in_database:
        aggregates["median"] = PercentileCont(wait, 0.5, filter=timed, output_field=DurationField())
        aggregates["p95"] = PercentileCont(wait, 0.95, filter=timed, output_field=DurationField())
    totals = settled.aggregate(**aggregates)
    if in_database:
        median, p95 = _seconds(totals.pop("median")), _seconds(totals.pop("p95"))
    else:
        waits = [
            (decided - created).total_seconds()
            for created, decided in settled.filter(timed).values_list("created_at", "decided_at")
            if decided is not None
        ]
        median, p95 = percentile(waits, 0.5), percentile(waits, 0.95)
    outcomes = {status.value: totals[status.value] for status in OUTCOMES}
    verdicts = outcomes[Status.APPROVED] + outcomes[Status.REJECTED]

    # 4 and 5. Votes in the window: why reviewers reject, and who does the reviewing.
    decisions = Decision.objects.filter(request__queue=queue, created_at__gte=since, superseded_at__isnull=True).order_by()
    reasons = (
        decisions.filter(decision=Decision.Kind.REJECT)
        .values("reason_code")
        .annotate(n=Count("id"))
        .order_by("-n", "reason_code")
        .values_list("reason_code", "n")
    )
    reviewers = (
        decisions.filter(user__isnull=False)
        .values("user__username")
        .annotate(n=Count("id"))
        .order_by("-n", "user__username")
        .values_list("user__username", "n")
    )

    return {
        "queue": queue.name,
        "days": days,
        "since": since,
        "pending": backlog["pending"],
        "overdue": backlog["overdue"],
        "requests_per_day": requests_per_day,
        "outcomes": outcomes,
        "decided": sum(outcomes.values()),
        "approval_rate": _rate(outcomes[Status.APPROVED], verdicts),
        "rejection_rate": _rate(outcomes[Status.REJECTED], verdicts),
        "median_decision_seconds": median,
        "p95_decision_seconds": p95,
        "rejection_reasons": dict(reasons),
        "decisions_per_reviewer": dict(reviewers),
    }
