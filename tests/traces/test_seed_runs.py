"""`manage.py seed_runs` at a tiny size, on whichever database the tests use (COPY on Postgres)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import Count, Sum
from django.test import Client

from agents.engine.models import Run
from console.harness.commands.seed_runs import SEARCH_WORD, SEED_USERS
from traces.recording.models import Span

pytestmark = pytest.mark.django_db(transaction=True)


def test_seed_runs_creates_runs_with_spans(roles: None) -> None:
    out = io.StringIO()
    call_command("seed_runs", runs=30, spans_per_run=5, days=3, seed=1, batch=7, big_run=40, stdout=out)
    text = out.getvalue()

    assert Run.objects.count() == 31
    assert Span.objects.count() == 30 * 5 + 40
    per_run = dict(Span.objects.values_list("run_id").annotate(n=Count("id")).values_list("run_id", "n"))
    big = Run.objects.get(metadata__big_run=True)
    assert per_run.pop(big.id) == 40 and set(per_run.values()) == {5}
    assert big.status == "succeeded" and big.agent.key in {"refund", "order_summary", "stock_check"}
    assert "created 31 runs" in text and f"{30 * 5 + 40} spans" in text and f"big run: {big.id}" in text
    assert "30/30 runs" in text  # progress lines

    runs = Run.objects.exclude(id=big.id)
    statuses = set(runs.values_list("status", flat=True))
    assert statuses <= {"succeeded", "failed", "waiting", "cancelled"} and "succeeded" in statuses
    assert set(Run.objects.values_list("agent__key", flat=True)) <= {"refund", "order_summary", "stock_check"}
    assert set(Run.objects.values_list("created_by__username", flat=True)) <= set(SEED_USERS)
    for run in Run.objects.all():
        spans = list(Span.objects.filter(run=run).order_by("seq"))
        assert [s.seq for s in spans] == list(range(len(spans)))
        nodes = [s for s in spans if s.kind == "node"]
        assert run.steps == len(nodes) and [s.step for s in nodes] == list(range(1, len(nodes) + 1))
        assert all(s.parent_id is None for s in nodes)
        children = [s for s in spans if s.kind != "node"]
        assert all(c.parent_id in {n.id for n in nodes} for c in children)
        sums = Span.objects.filter(run=run).aggregate(tokens_in=Sum("tokens_in"), cost=Sum("cost"))
        assert run.tokens_in == sums["tokens_in"] and run.cost == pytest.approx(sums["cost"] or 0.0)
        assert run.thread_id == str(run.id) and run.metadata["seeded"] is True
        assert run.created_at <= run.started_at
        if run.status == "failed":
            assert run.error and "Traceback" in run.error_traceback and spans[-1].status == "error"
        if run.status == "waiting":
            assert run.finished_at is None and spans[-1].kind == "gate" and spans[-1].status == "paused"
        if run.status == "succeeded":
            assert run.output["answer"] and run.finished_at > run.started_at
    models = set(Span.objects.filter(kind="model").values_list("model", flat=True))
    assert models and models <= {"scripted-demo", "gpt-4o-mini", "claude-3-5-haiku-latest"}
    assert Span.objects.filter(kind="tool").exists()


def test_seeded_runs_show_on_the_pages(engineer: Any) -> None:
    """Seeded rows are ordinary rows: the run list, a run page and the search word all work."""
    call_command("seed_runs", runs=60, spans_per_run=4, agents="refund", seed=2, stdout=io.StringIO())
    assert Run.objects.filter(input__reason__icontains=SEARCH_WORD).exists()
    client = Client()
    client.force_login(engineer)
    assert client.get("/runs/").status_code == 200
    run = Run.objects.first()
    assert client.get(f"/runs/{run.id}/").status_code == 200
    assert client.get(f"/runs/{run.id}/graph").status_code == 200
    assert client.get(f"/runs/{run.id}/checkpoints").status_code == 200
    assert client.get("/api/runs").status_code == 200


def test_unknown_agent_is_refused(roles: None) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="unknown agent"):
        call_command("seed_runs", runs=1, agents="nope", stdout=io.StringIO())


def test_bench_inspect_runs_end_to_end_on_seeded_data(roles: None) -> None:
    """At a tiny size (no assertion on speed): it ends with a p50, p95 and query count per request."""
    call_command("seed_runs", runs=40, spans_per_run=4, seed=3, big_run=60, stdout=io.StringIO())
    out = io.StringIO()
    call_command("bench_inspect", repeat=2, warmup=1, stdout=out)
    text = out.getvalue()
    figures = dict(line.split("=", 1) for line in text.strip().splitlines() if "=" in line and " " not in line)
    for name in ("api_list", "api_status_failed", "api_agent", "api_q", "page_list", "run_page", "graph_page", "checkpoints_page"):
        assert float(figures[f"{name}_p95_ms"]) >= float(figures[f"{name}_p50_ms"]) > 0
        assert int(figures[f"{name}_queries"]) > 0
    assert "(60 spans)" in text and "of the slowest query of GET" in text
