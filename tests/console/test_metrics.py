"""/metrics: Prometheus figures read from the database at scrape time, and the token.

Rows are written straight to the database (runs, spans, approval requests, with chosen times and
figures), then /metrics is scraped and parsed with prometheus_client's own parser: every figure
must be what the rows say. One test runs real agents in-process and checks the scrape against
the spans they recorded.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from agents.engine import runtime
from agents.engine.models import Agent, Run
from agents.engine.services import start_run
from approvals.models import ApprovalRequest, Queue
from traces.recording.models import Span

pytestmark = pytest.mark.django_db

S = Run.Status


def scrape(
    client: Client | None = None, **headers: str
) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """{sample name: {sorted labels: value}} from GET /metrics."""
    response = (client or Client()).get("/metrics", headers=headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict[str, Any], name: str, **labels: str) -> float:
    return samples[name][tuple(sorted(labels.items()))]


def agent(key: str) -> Agent:
    return Agent.objects.get_or_create(key=key, defaults={"name": key})[0]


def run(
    key: str,
    status: str,
    created: datetime | None = None,
    tokens: tuple[int, int] = (0, 0),
    cost: float = 0.0,
    enqueued: datetime | None = None,
) -> Run:
    return Run.objects.create(
        agent=agent(key),
        thread_id=str(uuid.uuid4()),
        status=status,
        created_at=created or timezone.now(),
        enqueued_at=enqueued,
        tokens_in=tokens[0],
        tokens_out=tokens[1],
        cost=cost,
    )


def span(
    r: Run,
    seq: int,
    kind: str,
    name: str,
    latency_ms: float,
    model: str = "",
    tokens: tuple[int, int] = (0, 0),
    cost: float = 0.0,
) -> Span:
    return Span.objects.create(
        run=r,
        seq=seq,
        kind=kind,
        name=name,
        status="ok",
        started_at=r.created_at,
        latency_ms=latency_ms,
        model=model,
        tokens_in=tokens[0],
        tokens_out=tokens[1],
        cost=cost,
    )


def request(
    queue: Queue, status: str, created: datetime, decided: datetime | None = None, due: datetime | None = None
) -> ApprovalRequest:
    return ApprovalRequest.objects.create(
        queue=queue, action="act", status=status, created_at=created, decided_at=decided, due_at=due
    )


def test_runs_by_agent_and_status_and_token_and_cost_totals() -> None:
    """Every status of every agent is a series (zeros too); tokens and cost add up the runs' totals."""
    run("m-alpha", S.SUCCEEDED, tokens=(100, 10), cost=0.5)
    run("m-alpha", S.SUCCEEDED, tokens=(200, 20), cost=0.25)
    run("m-alpha", S.FAILED, tokens=(7, 3), cost=0.125)
    run("m-alpha", S.WAITING)
    run("m-beta", S.RUNNING)
    samples = scrape()
    assert value(samples, "steward_runs", agent="m-alpha", status="succeeded") == 2
    assert value(samples, "steward_runs", agent="m-alpha", status="failed") == 1
    assert value(samples, "steward_runs", agent="m-alpha", status="waiting") == 1
    assert value(samples, "steward_runs", agent="m-alpha", status="cancelled") == 0
    assert value(samples, "steward_runs", agent="m-beta", status="running") == 1
    assert value(samples, "steward_runs", agent="m-beta", status="succeeded") == 0
    assert value(samples, "steward_tokens_total", agent="m-alpha", direction="input") == 307
    assert value(samples, "steward_tokens_total", agent="m-alpha", direction="output") == 33
    assert value(samples, "steward_cost_usd_total", agent="m-alpha") == pytest.approx(0.875)
    assert value(samples, "steward_cost_usd_total", agent="m-beta") == 0


def test_queue_depth_counts_queued_runs_only_and_the_oldest_wait() -> None:
    """Queued and not yet claimed: running, waiting and finished runs are not in the queue."""
    now = timezone.now()
    run("m-alpha", S.QUEUED, enqueued=now - timedelta(seconds=90))
    run("m-alpha", S.QUEUED, enqueued=now - timedelta(seconds=5))
    run("m-beta", S.QUEUED, created=now - timedelta(seconds=30))  # never enqueued: counts from creation
    run("m-beta", S.RUNNING)
    run("m-beta", S.WAITING)
    # Queued behind its thread's run (multitask_strategy=enqueue): waiting for that run, not a worker.
    Run.objects.filter(id=run("m-beta", S.QUEUED, enqueued=now - timedelta(hours=3)).id).update(waits_for_thread=True)
    samples = scrape()
    assert value(samples, "steward_queue_depth") == 3
    assert 90 <= value(samples, "steward_queue_oldest_seconds") < 120


def test_step_latency_histogram_covers_node_spans_of_recent_runs() -> None:
    """Buckets are cumulative, +Inf and the count are all node spans, the sum is in seconds; model
    spans and the spans of runs created before the window are left out."""
    recent = run("m-alpha", S.SUCCEEDED)
    for seq, ms in enumerate([3, 40, 40, 700, 12_000]):
        span(recent, seq, "node", "plan", ms)
    span(recent, 10, "node", "act", 80)
    span(recent, 11, "model", "chat", 5_000, model="m-model")
    old = run("m-alpha", S.SUCCEEDED, created=timezone.now() - timedelta(hours=2))
    span(old, 0, "node", "plan", 1)
    with override_settings(STEWARD_METRICS_WINDOW_SECONDS=3600):
        samples = scrape()
    bucket = "steward_step_latency_seconds_bucket"
    plan = {"agent": "m-alpha", "node": "plan"}
    assert value(samples, bucket, le="0.005", **plan) == 1
    assert value(samples, bucket, le="0.025", **plan) == 1
    assert value(samples, bucket, le="0.05", **plan) == 3
    assert value(samples, bucket, le="0.5", **plan) == 3
    assert value(samples, bucket, le="1.0", **plan) == 4
    assert value(samples, bucket, le="10.0", **plan) == 4
    assert value(samples, bucket, le="30.0", **plan) == 5
    assert value(samples, bucket, le="+Inf", **plan) == 5
    assert value(samples, "steward_step_latency_seconds_gcount", **plan) == 5
    assert value(samples, "steward_step_latency_seconds_gsum", **plan) == pytest.approx(12.783)
    assert value(samples, "steward_step_latency_seconds_gcount", agent="m-alpha", node="act") == 1
    assert ("node", "chat") not in {label for key in samples[bucket] for label in key}
    assert value(samples, "steward_metrics_window_seconds") == 3600


def test_model_tokens_cost_and_calls_per_agent_and_model() -> None:
    r1 = run("m-alpha", S.SUCCEEDED)
    span(r1, 0, "model", "chat", 10, model="model-a", tokens=(100, 10), cost=0.01)
    span(r1, 1, "model", "chat", 10, model="model-b", tokens=(50, 5), cost=0.02)
    r2 = run("m-alpha", S.FAILED)
    span(r2, 0, "model", "chat", 10, model="model-a", tokens=(30, 3), cost=0.005)
    span(r2, 1, "tool", "lookup", 10)
    r3 = run("m-beta", S.SUCCEEDED)
    span(r3, 0, "model", "chat", 10, model="model-a", tokens=(1, 1), cost=0.001)
    samples = scrape()
    assert value(samples, "steward_model_tokens", agent="m-alpha", model="model-a", direction="input") == 130
    assert value(samples, "steward_model_tokens", agent="m-alpha", model="model-a", direction="output") == 13
    assert value(samples, "steward_model_tokens", agent="m-alpha", model="model-b", direction="input") == 50
    assert value(samples, "steward_model_cost_usd", agent="m-alpha", model="model-a") == pytest.approx(0.015)
    assert value(samples, "steward_model_calls", agent="m-alpha", model="model-a") == 2
    assert value(samples, "steward_model_calls", agent="m-beta", model="model-a") == 1


def test_pending_and_overdue_approvals_per_queue() -> None:
    """Every queue is a series, empty ones at 0; decided requests are not pending."""
    now = timezone.now()
    q1 = Queue.objects.create(name="m-q1")
    q2 = Queue.objects.create(name="m-q2")
    Queue.objects.create(name="m-empty")
    request(q1, "pending", now, due=now - timedelta(minutes=1))
    request(q1, "pending", now, due=now + timedelta(hours=1))
    request(q1, "approved", now - timedelta(minutes=5), decided=now)
    request(q2, "pending", now)
    samples = scrape()
    assert value(samples, "steward_approvals_pending", queue="m-q1") == 2
    assert value(samples, "steward_approvals_pending", queue="m-q2") == 1
    assert value(samples, "steward_approvals_pending", queue="m-empty") == 0
    assert value(samples, "steward_approvals_overdue", queue="m-q1") == 1
    assert value(samples, "steward_approvals_overdue", queue="m-q2") == 0


def test_time_to_decision_histogram_per_queue() -> None:
    """decided_at - created_at of approved, rejected, responded and expired requests; cancelled and
    pending ones have no decision time."""
    now = timezone.now()
    q = Queue.objects.create(name="m-q1")
    for seconds, status in [
        (20, "approved"),
        (45, "rejected"),
        (600, "approved"),
        (7200, "expired"),
        (50, "responded"),
    ]:
        request(q, status, now - timedelta(seconds=seconds), decided=now)
    request(q, "cancelled", now - timedelta(seconds=5), decided=now)
    request(q, "pending", now - timedelta(seconds=5))
    samples = scrape()
    bucket = "steward_approval_decision_seconds_bucket"
    assert value(samples, bucket, queue="m-q1", le="10.0") == 0
    assert value(samples, bucket, queue="m-q1", le="30.0") == 1
    assert value(samples, bucket, queue="m-q1", le="60.0") == 3
    assert value(samples, bucket, queue="m-q1", le="900.0") == 4
    assert value(samples, bucket, queue="m-q1", le="7200.0") == 5
    assert value(samples, bucket, queue="m-q1", le="+Inf") == 5
    assert value(samples, "steward_approval_decision_seconds_count", queue="m-q1") == 5
    assert value(samples, "steward_approval_decision_seconds_sum", queue="m-q1") == pytest.approx(7915)


def test_a_scrape_reads_the_same_number_of_queries_whatever_the_data() -> None:
    """Each family is one grouped query: more agents, runs, spans and queues add no query."""

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            scrape()
        return len(queries)

    r = run("m-alpha", S.SUCCEEDED)
    span(r, 0, "node", "plan", 5)
    before = count()
    for key in ("m-beta", "m-gamma", "m-delta"):
        r = run(key, S.SUCCEEDED)
        span(r, 0, "node", "plan", 5)
        span(r, 1, "model", "chat", 5, model=key)
        q = Queue.objects.create(name=key + "-q")
        request(q, "approved", timezone.now() - timedelta(seconds=9), decided=timezone.now())
    assert count() == before


@pytest.mark.django_db(transaction=True)
def test_real_runs_show_up_as_recorded(engineer: User, reviewer: User) -> None:
    """Agents run by the real runtime: the scrape matches the spans and runs they wrote."""
    from approvals.services import decide

    refund = start_run("refund", {"order_id": "M-1", "amount": 250, "reason": "x"}, engineer)
    assert runtime.execute(refund.id) == "waiting"
    waiting = scrape()
    assert value(waiting, "steward_runs", agent="refund", status="waiting") >= 1
    approval = ApprovalRequest.objects.get(run=refund)
    decide(approval.id, reviewer, "approve")
    assert runtime.execute(refund.id) == "succeeded"
    samples = scrape()
    assert (
        value(samples, "steward_runs", agent="refund", status="succeeded")
        == Run.objects.filter(agent__key="refund", status="succeeded").count()
    )
    nodes = Span.objects.filter(run=refund, kind="node")
    names = set(nodes.values_list("name", flat=True))
    assert names, "the run recorded its nodes"
    for name in names:
        assert (
            value(samples, "steward_step_latency_seconds_gcount", agent="refund", node=name)
            == nodes.filter(name=name).count()
        )
    model_spans = Span.objects.filter(
        run__agent__key="refund", kind="model", run__created_at__gte=timezone.now() - timedelta(hours=1)
    )
    model = model_spans.values_list("model", flat=True).first()
    assert (
        value(samples, "steward_model_calls", agent="refund", model=model)
        == model_spans.filter(model=model).count()
    )
    assert value(samples, "steward_approval_decision_seconds_count", queue=approval.queue.name) >= 1


def test_open_without_a_token() -> None:
    with override_settings(METRICS_TOKEN=""):
        assert Client().get("/metrics").status_code == 200


@override_settings(METRICS_TOKEN="s3cret-metrics-token")
def test_with_a_token_only_the_bearer_token_gets_in() -> None:
    """No header, another scheme, a wrong or a prefix of the token: 401 with WWW-Authenticate; the
    token: the figures."""
    client = Client()
    for headers in (
        {},
        {"Authorization": "s3cret-metrics-token"},
        {"Authorization": "Basic s3cret-metrics-token"},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Bearer s3cret"},
    ):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401, headers
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert b"steward_" not in response.content
    response = client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics-token"})
    assert response.status_code == 200 and b"# TYPE steward_queue_depth gauge" in response.content


def test_metrics_are_read_only() -> None:
    assert Client().post("/metrics").status_code == 405
