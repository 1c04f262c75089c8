"""`manage.py bench` at a tiny size: it runs end to end, ends with its five figures, cleans up.

No assertion here is about speed: the figures depend on the machine and its load.
"""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection

from agents.engine.models import Agent, Run
from approvals.models import ApprovalRequest
from console.kernel.audit import verify
from console.kernel.models import AuditEvent
from traces.recording.models import Span

pytestmark = pytest.mark.django_db(transaction=True)

FINAL_LINES = (
    "bare_runs_per_s",
    "steward_runs_per_s",
    "overhead_ratio",
    "approval_roundtrip_p50_ms",
    "approval_roundtrip_p95_ms",
)


def test_bench_ends_with_five_figures_and_leaves_no_bench_data() -> None:
    out = io.StringIO()
    call_command("bench", runs=3, trials=1, approvals=2, stdout=out)

    lines = out.getvalue().strip().splitlines()
    figures: dict[str, float] = {}
    for line, name in zip(lines[-5:], FINAL_LINES, strict=True):
        key, sep, value = line.partition("=")
        assert (key, sep) == (name, "="), line
        figures[key] = float(value)
        assert figures[key] > 0, line
    # The ratio is printed with more digits than the rates: equal within the rates' rounding.
    assert figures["overhead_ratio"] == pytest.approx(
        figures["bare_runs_per_s"] / figures["steward_runs_per_s"], rel=1e-3
    )
    assert figures["approval_roundtrip_p95_ms"] >= figures["approval_roundtrip_p50_ms"]
    assert "bare ms/run" in out.getvalue() and "Approval round trip" in out.getvalue()

    # Bench data must not pollute a demo.
    bench_keys = ["bench_linear", "bench_gate"]
    assert not Run.objects.filter(agent__key__in=bench_keys).exists()
    assert not Agent.objects.filter(key__in=bench_keys).exists()
    assert not Span.objects.exists() and not ApprovalRequest.objects.exists()
    # The audit log is append-only: the bench's decisions stay in it, and the chain still holds.
    assert AuditEvent.objects.filter(action="approval.approve").exists()
    assert list(verify()) == []
    assert not User.objects.filter(username__startswith="bench-").exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM checkpoints WHERE thread_id LIKE %s", ["bench-bare-%"])
        assert cursor.fetchone()[0] == 0


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
