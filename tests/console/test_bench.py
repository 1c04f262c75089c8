"""`manage.py bench` at a tiny size: it runs end to end, prints its figures, cleans up.

No assertion here is about speed: the figures depend on the machine and its load.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection

from agents.engine.models import Agent, Run
from approvals.models import ApprovalRequest
from console.kernel.audit import verify
from console.kernel.models import ApiKey, AuditEvent
from console.langgraph_api.models import SdkRun, Thread
from traces.recording.models import Span

pytestmark = pytest.mark.django_db(transaction=True)

FIGURES = (
    "load_start",
    "baseline",
    "p1_baseline_runs_per_s",
    "p1_steward_runs_per_s",
    "p1_trial_ratios",
    "p1_ratio_vs_stock",
    "p2_post_p50_ms",
    "p2_post_p95_ms",
    "p2_http_p50_ms",
    "p2_http_p95_ms",
    "load_end",
)


@pytest.mark.redis
def test_bench_compares_a_separate_worker_with_the_stock_saver_and_leaves_no_bench_data(settings: Any) -> None:
    """p1 and p2 at a tiny size: runs executed by a worker process, decisions POSTed to daphne."""
    # The bench forces DEBUG off, which needs a real key (it would make one up and keep it).
    settings.SECRET_KEY = "bench-test-key-0123456789-0123456789-0123456789"
    out = io.StringIO()
    call_command("bench", only={"p1", "p2"}, runs=2, trials=2, warmup=1, approvals=2, stdout=out, stderr=io.StringIO())

    lines = out.getvalue().strip().splitlines()
    figures = dict(line.partition("=")[::2] for line in lines)
    noisy = figures.pop("noisy", None)
    assert noisy in (None, "1")
    assert tuple(figures) == FIGURES, lines
    assert figures["baseline"] == "langgraph.checkpoint.postgres.PostgresSaver"
    ratio = float(figures["p1_ratio_vs_stock"])
    assert ratio == pytest.approx(
        float(figures["p1_steward_runs_per_s"]) / float(figures["p1_baseline_runs_per_s"]), rel=1e-2
    )
    assert len(figures["p1_trial_ratios"].split(",")) == 2
    assert float(figures["p2_http_p95_ms"]) >= float(figures["p2_http_p50_ms"]) > 0
    assert float(figures["p2_http_p50_ms"]) >= float(figures["p2_post_p50_ms"]) > 0

    # Bench data must not pollute a demo.
    bench_keys = ["bench_linear", "bench_gate"]
    assert not Run.objects.filter(agent__key__in=bench_keys).exists()
    assert not Agent.objects.filter(key__in=bench_keys).exists()
    assert not Span.objects.exists() and not ApprovalRequest.objects.exists()
    assert not ApiKey.objects.exists()
    # The audit log is append-only: the bench's decisions (made over HTTP) stay in it, and the chain still holds.
    assert AuditEvent.objects.filter(action="approval.approve").exists()
    assert list(verify()) == []
    assert not User.objects.filter(username__startswith="bench-").exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM checkpoints WHERE thread_id LIKE %s", ["bench-bare-%"])
        assert cursor.fetchone()[0] == 0


@pytest.mark.redis
def test_bench_p6_starts_runs_through_the_langgraph_sdk_and_the_api_and_prints_the_ratio(settings: Any) -> None:
    """p6 at a tiny size: the official SDK's runs.create and POST /api/runs against one daphne and
    worker, the ratio of their runs/s; every run the SDK started is a Steward run, and all go."""
    settings.SECRET_KEY = "bench-test-key-0123456789-0123456789-0123456789"
    out = io.StringIO()
    call_command("bench", only={"p6"}, sdk_runs=2, sdk_trials=2, stdout=out, stderr=io.StringIO())

    figures = dict(line.partition("=")[::2] for line in out.getvalue().strip().splitlines())
    assert float(figures["p6_api_runs_per_s"]) > 0 and float(figures["p6_sdk_runs_per_s"]) > 0, figures
    assert float(figures["p6_sdk_ratio_vs_api"]) == pytest.approx(
        float(figures["p6_sdk_runs_per_s"]) / float(figures["p6_api_runs_per_s"]), rel=1e-2
    )
    assert not Run.objects.filter(agent__key="bench_linear").exists()
    assert not SdkRun.objects.exists() and not Thread.objects.exists(), "the SDK's threads and runs are bench data too"
    assert not ApiKey.objects.exists()


def test_bench_replay_times_copied_recorded_replays_and_prints_the_ratio() -> None:
    """`manage.py bench_replay` times recorded replays that copy their original (no node runs)
    and ends with `p7_replay_ratio`, the replay's median over the original's."""
    from agents.engine.signals import run_stopped

    replays: list[dict[str, object]] = []

    def seen(sender: object, run_id: object, **kwargs: object) -> None:
        replay = (Run.objects.get(id=run_id).metadata or {}).get("replay")
        if replay:
            replays.append(replay)

    run_stopped.connect(seen, dispatch_uid="test-bench-replay")
    try:
        out = io.StringIO()
        call_command("bench_replay", runs=2, stdout=out)
    finally:
        run_stopped.disconnect(dispatch_uid="test-bench-replay")
    figures = dict(line.partition("=")[::2] for line in out.getvalue().strip().splitlines())
    ratio = float(figures["p7_replay_ratio"])
    assert ratio > 0 and ratio == pytest.approx(
        float(figures["recorded_replay_ms_p50"]) / float(figures["original_ms_p50"]), rel=1e-2
    )
    assert len(replays) == 2 and all(r["mode"] == "recorded" and r["copied"] for r in replays)
    assert not Run.objects.filter(agent__key="bench_linear").exists()
