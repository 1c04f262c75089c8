"""What `manage.py chaos` checks after a fault, from the database alone.

- every run of the batch finished, and succeeded;
- no recorded step is lost: each step LangGraph checkpointed has its node span, and each run
  holds exactly as many `ok` spans as a clean run of the same kind (fewer: lost, more: doubled);
- no gated side effect happened twice (or not at all): one refund row, one ledger row and one
  approval request per refund run, one refund row and ledger row per part of a fan-out run.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Count

from agents.demo.models import Refund
from agents.engine.models import IdempotencyRecord, Run
from approvals.models import ApprovalRequest
from console.harness.chaos_fanout import part_order_ids
from traces.recording.models import Span

__all__ = ["RunChecks", "check_runs", "ok_span_count"]


@dataclass
class RunChecks:
    runs: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    # Checkpointed steps (LangGraph's `loop` checkpoints) that have no `ok` node span.
    steps_without_span: int = 0
    # `ok` spans a run is missing, or has in excess, against a clean run of the same kind.
    lost_spans: int = 0
    extra_spans: int = 0
    # `ok` node spans that repeat another's step, node and input (a task recorded twice; the
    # tasks of a fan-out share a step, each with its own input).
    doubled_steps: int = 0
    refund_runs: int = 0
    refund_rows: int = 0
    duplicate_refunds: int = 0
    missing_refunds: int = 0
    duplicate_ledger_rows: int = 0
    duplicate_approval_requests: int = 0
    max_attempts: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> int:
        return self.statuses.get(Run.Status.SUCCEEDED, 0)

    @property
    def failed(self) -> int:
        return self.statuses.get(Run.Status.FAILED, 0)

    @property
    def unfinished(self) -> int:
        return sum(n for status, n in self.statuses.items() if status not in Run.FINISHED)


def ok_span_count(run_id: Any) -> int:
    return Span.objects.filter(run_id=run_id, status=Span.Status.OK).count()


def _checkpointed_steps(thread_ids: list[str]) -> dict[str, set[int]]:
    """Per thread, the supersteps LangGraph saved a checkpoint after (the chaos runs on Postgres)."""
    steps: dict[str, set[int]] = defaultdict(set)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT thread_id, (metadata->>'step')::int FROM checkpoints WHERE thread_id = ANY(%s) "
            "AND checkpoint_ns = '' AND metadata->>'source' = 'loop' AND (metadata->>'step')::int >= 1",
            [thread_ids],
        )
        for thread_id, step in cursor.fetchall():
            steps[thread_id].add(int(step))
    return steps


def check_runs(batch: str, expected_ok_spans: dict[str, int]) -> RunChecks:
    """Check every run tagged `metadata.chaos == batch`.

    Args:
        expected_ok_spans: per run kind (`metadata.kind`), the `ok` spans of a clean run.
    """
    result = RunChecks()
    runs = list(
        Run.objects.filter(metadata__chaos=batch).values("id", "thread_id", "status", "attempts", "metadata", "input")
    )
    result.runs = len(runs)
    result.statuses = Counter(r["status"] for r in runs)
    for status, n in sorted(result.statuses.items()):
        if status != Run.Status.SUCCEEDED:
            result.problems.append(f"{n} run(s) ended {status}, not succeeded")
    ids = [r["id"] for r in runs]
    result.max_attempts = max((r["attempts"] for r in runs), default=0)

    ok_spans = dict(
        Span.objects.filter(run_id__in=ids, status=Span.Status.OK).values("run_id").annotate(n=Count("id")).values_list("run_id", "n")
    )
    # Per run, its `ok` node spans per step, and per (step, node, input): a step of several tasks
    # (a Send fan-out) has several spans, each task's own input; a task recorded twice repeats one.
    node_steps: dict[Any, Counter[int | None]] = defaultdict(Counter)
    node_tasks: dict[Any, Counter[tuple[Any, ...]]] = defaultdict(Counter)
    for run_id, step, name, task_input in Span.objects.filter(
        run_id__in=ids, kind=Span.Kind.NODE, status=Span.Status.OK
    ).values_list("run_id", "step", "name", "input"):
        node_steps[run_id][step] += 1
        node_tasks[run_id][(step, name, json.dumps(task_input, sort_keys=True))] += 1
    checkpointed = _checkpointed_steps([r["thread_id"] for r in runs])
    for r in runs:
        if r["status"] not in Run.FINISHED:
            continue
        steps = node_steps[r["id"]]
        result.steps_without_span += len([s for s in checkpointed[r["thread_id"]] if steps[s] == 0])
        result.doubled_steps += sum(n - 1 for n in node_tasks[r["id"]].values() if n > 1)
        if r["status"] == Run.Status.SUCCEEDED:
            expected = expected_ok_spans.get(r["metadata"].get("kind", ""))
            if expected is not None:
                got = ok_spans.get(r["id"], 0)
                result.lost_spans += max(0, expected - got)
                result.extra_spans += max(0, got - expected)
    if result.steps_without_span:
        result.problems.append(f"{result.steps_without_span} checkpointed step(s) have no recorded span")
    if result.lost_spans:
        result.problems.append(f"{result.lost_spans} span(s) missing against clean runs")
    if result.extra_spans or result.doubled_steps:
        result.problems.append(f"{result.extra_spans} extra span(s), {result.doubled_steps} step(s) recorded twice")

    _check_side_effects(result, runs)
    return result


def _check_side_effects(result: RunChecks, runs: Sequence[Mapping[str, Any]]) -> None:
    refund_runs = {r["input"]["order_id"]: r for r in runs if r["metadata"].get("kind", "").startswith("refund")}
    # A fan-out run refunds once per part (console/harness/chaos_fanout.py).
    refund_runs.update(
        {order: r for r in runs if r["metadata"].get("kind") == "fanout" for order in part_order_ids(r["input"]["order_id"])}
    )
    result.refund_runs = len(refund_runs)
    orders = list(refund_runs)
    rows = Counter(Refund.objects.filter(order_id__in=orders).values_list("order_id", flat=True))
    ledger = Counter(
        IdempotencyRecord.objects.filter(key__in=[f"refund:{o}" for o in orders]).values_list("key", flat=True)
    )
    requests = Counter(
        ApprovalRequest.objects.filter(run_id__in=[r["id"] for r in refund_runs.values()]).values_list("run_id", flat=True)
    )
    result.refund_rows = sum(rows.values())
    result.duplicate_refunds = sum(n - 1 for n in rows.values() if n > 1)
    result.duplicate_ledger_rows = sum(n - 1 for n in ledger.values() if n > 1)
    result.duplicate_approval_requests = sum(n - 1 for n in requests.values() if n > 1)
    # Every refund run is approved (by a reviewer, or by its condition): it must have refunded.
    result.missing_refunds = len([o for o, r in refund_runs.items() if r["status"] == Run.Status.SUCCEEDED and not rows[o]])
    if result.duplicate_refunds or result.duplicate_ledger_rows:
        result.problems.append(
            f"side effects repeated: {result.duplicate_refunds} refund row(s), {result.duplicate_ledger_rows} ledger row(s)"
        )
    if result.duplicate_approval_requests:
        result.problems.append(f"{result.duplicate_approval_requests} approval request(s) opened twice")
    if result.missing_refunds:
        result.problems.append(f"{result.missing_refunds} approved refund(s) never happened")
