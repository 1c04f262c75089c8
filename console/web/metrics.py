"""Prometheus metrics at /metrics, read from the database when Prometheus scrapes.

Why the database and not counters in memory: Steward runs as several web processes and Celery
workers, often on several machines, and the workers (who run the steps and see the latencies)
serve no HTTP. In-process counters would need prometheus_client's multiprocess mode (one shared
directory per machine, a scrape target per machine, files to clean up when workers restart) and
still miss the workers of other machines. The database already holds every run, span and
approval request, so any web process answers for the whole installation, and a restart loses
nothing. Each family is one grouped query; none reads more than it must:

- runs per agent and status, and token and cost totals per agent: one pass over the runs table
  (runs are never pruned, so the totals only grow and are true counters; a run's totals are
  written when it stops, so a running run's tokens appear when it waits or ends);
- step latency (node spans) and tokens, cost and calls per agent and model (model spans): only
  the spans of runs created in the last STEWARD_METRICS_WINDOW_SECONDS: the recent runs (created_at
  is indexed), then their spans through the spans' run index, the dashboard's path (no migration;
  measured: 2,000,000 spans over 30 days, a whole scrape in about 160 ms).
  Spans are pruned by retention and the window moves, so these are gauges: the step latency is
  a gauge histogram (use histogram_quantile on its buckets directly, without rate());
- queue depth and the oldest queued run: the (status, enqueued_at) index;
- pending and overdue approvals per queue: the (status, queue, ...) and (status, due_at) indexes;
- time to decision (decided_at - created_at) per queue: a cumulative histogram over every decided
  request (requests are never deleted; the decided ones are read once per scrape).

- circuit state per model provider (0 closed, 1 half-open, 2 open) and its transient failures
  counter, from the circuit rows every worker writes (agents/engine/circuit.py), plus configured
  providers that never failed (closed); and the number of runs in the dead-letter list.

Access: open when METRICS_TOKEN is empty; otherwise `Authorization: Bearer <METRICS_TOKEN>`,
compared in constant time, else 401.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, Q, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from agents.engine.circuit import states
from agents.engine.dead_letters import open_count
from agents.engine.models import Agent, Run
from approvals.models import ApprovalRequest, Queue
from approvals.stats import TIMED_OUTCOMES, pending_count_subquery
from traces.recording.models import Span

__all__ = ["CIRCUIT_STATE_VALUES", "DECISION_BUCKETS", "STEP_BUCKETS", "StewardCollector", "metrics"]

# Seconds. Node steps range from a few milliseconds (routing) to minutes (a slow model or tool).
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
# Seconds. People decide in minutes to days.
DECISION_BUCKETS = tuple(
    float(s) for s in (10, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200, 604800)
)


CIRCUIT_STATE_VALUES = {"closed": 0, "half_open": 1, "open": 2}


def _le(bound: float) -> str:
    return repr(float(bound))


def _cumulative(row: dict[str, Any], bounds: Sequence[float]) -> list[tuple[str, float]]:
    """Prometheus buckets from a row with `b0..bN` (counts at or under each bound) and `count`."""
    return [(_le(b), float(row[f"b{i}"])) for i, b in enumerate(bounds)] + [("+Inf", float(row["count"]))]


def _bucket_counts(bounds: Sequence[float], lookup: str, scale: Callable[[float], Any]) -> dict[str, Count]:
    """`b0..bN`: how many rows have `lookup` at or under each bound (Prometheus buckets are cumulative)."""
    return {f"b{i}": Count("id", filter=Q(**{lookup: scale(b)})) for i, b in enumerate(bounds)}


class StewardCollector(Collector):
    """Every family, computed from the database at each collect()."""

    def collect(self) -> Iterator[Any]:
        now = timezone.now()
        yield from self._runs()
        yield from self._queue(now)
        yield from self._spans(now)
        yield from self._approvals(now)
        yield from self._reliability()

    def _runs(self) -> Iterable[Any]:
        runs = GaugeMetricFamily("steward_runs", "Runs by agent and status.", labels=["agent", "status"])
        tokens = CounterMetricFamily(
            "steward_tokens",
            "Tokens of finished and waiting runs, by agent and direction.",
            labels=["agent", "direction"],
        )
        cost = CounterMetricFamily(
            "steward_cost_usd", "Cost of finished and waiting runs in USD, by agent.", labels=["agent"]
        )
        rows = (
            Run.objects.order_by()
            .values("agent_id", "status")
            .annotate(
                n=Count("id"), tokens_in=Sum("tokens_in"), tokens_out=Sum("tokens_out"), cost=Sum("cost")
            )
        )
        agents = dict(Agent.objects.values_list("id", "key"))
        counts: dict[tuple[str, str], int] = {}
        totals: dict[str, list[float]] = {key: [0.0, 0.0, 0.0] for key in agents.values()}
        for row in rows:
            key = agents[row["agent_id"]]
            counts[(key, row["status"])] = row["n"]
            total = totals[key]
            total[0] += row["tokens_in"] or 0
            total[1] += row["tokens_out"] or 0
            total[2] += row["cost"] or 0.0
        # Every agent with every status, zeros included: an alert on "failed > 0" needs the series.
        for key in sorted(agents.values()):
            for status in Run.Status.values:
                runs.add_metric([key, status], counts.get((key, status), 0))
            tokens.add_metric([key, "input"], totals[key][0])
            tokens.add_metric([key, "output"], totals[key][1])
            cost.add_metric([key], totals[key][2])
        return [runs, tokens, cost]

    def _queue(self, now: datetime) -> Iterable[Any]:
        # A run queued behind its thread's run waits for that run, not for a worker (it may wait
        # for a reviewer's decision for hours): not in the queue until it is sent.
        queued = Run.objects.filter(status=Run.Status.QUEUED, waits_for_thread=False).aggregate(
            n=Count("id"), oldest=Min(Coalesce("enqueued_at", "created_at"))
        )
        depth = GaugeMetricFamily(
            "steward_queue_depth", "Runs queued and not yet claimed by a worker (not those queued behind their thread's run).", value=queued["n"]
        )
        age = (now - queued["oldest"]).total_seconds() if queued["oldest"] else 0.0
        oldest = GaugeMetricFamily(
            "steward_queue_oldest_seconds",
            "How long the longest-queued run has waited for a worker (0: none).",
            value=max(age, 0.0),
        )
        return [depth, oldest]

    def _spans(self, now: datetime) -> Iterable[Any]:
        window = settings.STEWARD_METRICS_WINDOW_SECONDS
        since = now - timedelta(seconds=window)
        recent = Span.objects.filter(run__created_at__gte=since).order_by()
        latency = GaugeHistogramMetricFamily(
            "steward_step_latency_seconds",
            f"Latency of node spans (node executions, what a run's steps counts) of runs created in the last {window} s, by agent and node.",
            labels=["agent", "node"],
        )
        rows = (
            recent.filter(kind=Span.Kind.NODE)
            .values("run__agent__key", "name")
            .annotate(
                count=Count("id"),
                total_ms=Sum("latency_ms"),
                **_bucket_counts(STEP_BUCKETS, "latency_ms__lte", lambda b: b * 1000),
            )
        )
        for row in sorted(rows, key=lambda r: (r["run__agent__key"], r["name"])):
            latency.add_metric(
                [row["run__agent__key"], row["name"]],
                _cumulative(row, STEP_BUCKETS),
                (row["total_ms"] or 0.0) / 1000,
            )
        model_tokens = GaugeMetricFamily(
            "steward_model_tokens",
            f"Tokens of model calls of runs created in the last {window} s, by agent, model and direction.",
            labels=["agent", "model", "direction"],
        )
        model_cost = GaugeMetricFamily(
            "steward_model_cost_usd",
            f"Cost in USD of model calls of runs created in the last {window} s, by agent and model.",
            labels=["agent", "model"],
        )
        model_calls = GaugeMetricFamily(
            "steward_model_calls",
            f"Model calls of runs created in the last {window} s, by agent and model.",
            labels=["agent", "model"],
        )
        rows = (
            recent.filter(kind=Span.Kind.MODEL)
            .values("run__agent__key", "model")
            .annotate(
                calls=Count("id"), tokens_in=Sum("tokens_in"), tokens_out=Sum("tokens_out"), cost=Sum("cost")
            )
        )
        for row in sorted(rows, key=lambda r: (r["run__agent__key"], r["model"])):
            labels = [row["run__agent__key"], row["model"]]
            model_tokens.add_metric([*labels, "input"], row["tokens_in"] or 0)
            model_tokens.add_metric([*labels, "output"], row["tokens_out"] or 0)
            model_cost.add_metric(labels, row["cost"] or 0.0)
            model_calls.add_metric(labels, row["calls"])
        window_gauge = GaugeMetricFamily(
            "steward_metrics_window_seconds",
            "The window of the span-based families (step latency, model tokens).",
            value=window,
        )
        return [latency, model_tokens, model_cost, model_calls, window_gauge]

    def _approvals(self, now: datetime) -> Iterable[Any]:
        pending = GaugeMetricFamily(
            "steward_approvals_pending",
            "Approval requests waiting for a decision, by queue.",
            labels=["queue"],
        )
        overdue = GaugeMetricFamily(
            "steward_approvals_overdue",
            "Pending approval requests past their due time, by queue.",
            labels=["queue"],
        )
        late = dict(
            ApprovalRequest.objects.pending()
            .filter(due_at__lt=now)
            .order_by()
            .values("queue_id")
            .annotate(n=Count("id"))
            .values_list("queue_id", "n")
        )
        names: dict[int, str] = {}
        for queue_id, name, count in Queue.objects.annotate(n=pending_count_subquery()).values_list(
            "id", "name", "n"
        ):
            names[queue_id] = name
            pending.add_metric([name], count)
            overdue.add_metric([name], late.get(queue_id, 0))
        decision = HistogramMetricFamily(
            "steward_approval_decision_seconds",
            "Time from request to decision (approved, rejected, responded or expired), by queue.",
            labels=["queue"],
        )
        wait = ExpressionWrapper(F("decided_at") - F("created_at"), output_field=DurationField())
        rows = (
            ApprovalRequest.objects.filter(status__in=TIMED_OUTCOMES, decided_at__isnull=False)
            .order_by()
            .alias(wait=wait)
            .values("queue_id")
            .annotate(
                count=Count("id"),
                total=Sum("wait"),
                **_bucket_counts(DECISION_BUCKETS, "wait__lte", lambda b: timedelta(seconds=b)),
            )
        )
        for row in sorted(rows, key=lambda r: names.get(r["queue_id"], "")):
            total = row["total"].total_seconds() if row["total"] is not None else 0.0
            decision.add_metric([names[row["queue_id"]]], _cumulative(row, DECISION_BUCKETS), total)
        return [pending, overdue, decision]


    def _reliability(self) -> Iterable[Any]:

        state = GaugeMetricFamily(
            "steward_circuit_state",
            "Circuit breaker of each model provider: 0 closed, 1 half-open, 2 open.",
            labels=["provider"],
        )
        failures = CounterMetricFamily(
            "steward_circuit_failures",
            "Transient failures of each model provider's calls (timeouts, connection errors, 429, 5xx).",
            labels=["provider"],
        )
        for row in states():
            state.add_metric([row["provider"]], CIRCUIT_STATE_VALUES.get(row["state"], 0))
            failures.add_metric([row["provider"]], row["failures_total"])
        dead = GaugeMetricFamily(
            "steward_dead_letters",
            "Failed runs waiting in the dead-letter list (not yet retried or dismissed).",
            value=open_count(),
        )
        return [state, failures, dead]


def _authorized(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if not token:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not _authorized(request):
        response = HttpResponse(
            "a valid metrics token is required: Authorization: Bearer <METRICS_TOKEN>\n",
            status=401,
            content_type="text/plain; charset=utf-8",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StewardCollector())
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(registry), content_type=content_type)
