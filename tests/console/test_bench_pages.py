"""`manage.py bench_pages`' seed and walk, at a small volume: the seeded rows are what the pages
and a recorded replay expect (totals match spans, payloads of 1–4 KB, sealed values that open,
pending requests on waiting runs), a second seed of the same size is skipped and another size is
refused; the walk logs in to a real daphne and follows the lists' next links."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db.models import Count, Q, Sum

from agents.engine.models import Run
from approvals.models import ApprovalRequest
from console.harness.bench_pages import measure_pages
from console.harness.volume_seed import SeedError, Volume, big_run_of, seed
from console.kernel.sealing import open_json
from traces.recording.models import SealedRunInput, Span

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

VOLUME = Volume(runs=120, spans=2_400, big_run_spans=60, pending=12)


@pytest.fixture
def seeded(roles: None) -> Run:
    return seed(VOLUME, lambda _: None)


def test_the_seed_holds_the_volume_with_consistent_runs(seeded: Run) -> None:
    assert Run.objects.count() == VOLUME.runs + 1
    assert Span.objects.count() == VOLUME.spans + VOLUME.big_run_spans
    assert seeded.span_count == VOLUME.big_run_spans and seeded.metadata["big_run"] is True
    assert Run.objects.filter(status=Run.Status.WAITING).count() == VOLUME.pending
    pending = ApprovalRequest.objects.filter(status=ApprovalRequest.Status.PENDING)
    assert pending.count() == VOLUME.pending
    assert set(pending.values_list("run__status", flat=True)) == {Run.Status.WAITING}
    # Each run's stored totals are its spans'.
    counted = Run.objects.annotate(
        n=Count("spans"), nodes=Count("spans", filter=Q(spans__kind="node")), tokens=Sum("spans__tokens_in")
    )
    for run in counted:
        assert (run.span_count, run.steps, run.tokens_in) == (run.n, run.nodes, run.tokens or 0), run.id


def test_payloads_are_1_to_4_kb_and_sealed_values_open(seeded: Run) -> None:
    spans = list(Span.objects.filter(status="ok").exclude(kind="gate").only("input", "output", "sealed", "id"))
    sizes = [len(json.dumps(s.input)) + len(json.dumps(s.output)) for s in spans]
    assert min(sizes) >= 1000 and max(sizes) <= 4200, (min(sizes), max(sizes))
    sealed = [s for s in spans if s.sealed is not None]
    assert sealed, "some calls' outputs held a secret"
    for span in sealed:
        original = open_json(bytes(span.sealed), span.id.bytes)["output"]
        assert original["api_key"].startswith("sk-live-")
        assert span.output["api_key"].startswith("[redacted:")
    inputs = list(SealedRunInput.objects.all())
    assert inputs
    for row in inputs:
        assert open_json(bytes(row.sealed), row.run_id.bytes)["api_key"].startswith("sk-live-")


def test_a_second_seed_is_skipped_and_another_size_refused(seeded: Run) -> None:
    said: list[str] = []
    assert seed(VOLUME, said.append).id == seeded.id
    assert said == [f"already seeded ({VOLUME.label}): skipping"]
    assert Run.objects.count() == VOLUME.runs + 1
    with pytest.raises(SeedError, match="another seed"):
        seed(Volume(runs=10, spans=100, big_run_spans=10, pending=1), said.append)
    assert big_run_of(Volume(runs=10, spans=100, big_run_spans=10, pending=1)) is None


def test_the_walk_logs_in_over_daphne_and_follows_next_pages(seeded: Run, tmp_path: Any) -> None:
    runs, run_page, inbox = measure_pages(VOLUME, rounds=1, depth=3, run_page_repeat=1, log_dir=tmp_path)
    # 121 runs at 50 a page: the unfiltered list is walked to its third page through its cursor.
    assert {p for p in runs.pages if p.startswith("/runs/?cursor=")}, runs.pages
    assert len([p for p in runs.pages if "cursor=" in p]) >= 2
    assert run_page.pages == {f"/runs/{seeded.id}/"} and len(run_page.ms) == 1
    assert "/approvals/" in inbox.pages and all(ms > 0 for ms in runs.ms + inbox.ms)
