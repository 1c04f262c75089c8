"""How each prompt version did: runs, success and failure rates, approval rejection rate,
tokens, cost and latency, from the runs pinned to it (two grouped queries per prompt)."""

from __future__ import annotations

from typing import Any

from django.db.models import Avg, Count, Q, Sum

from agents.engine.models import Run
from agents.prompts.models import Prompt, RunPromptVersion
from approvals.models import ApprovalRequest

__all__ = ["results_by_version"]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def results_by_version(prompt: Prompt, numbers: list[int] | None = None) -> dict[int, dict[str, Any]]:
    """Version number → figures, for every version (or those in `numbers`), zeros included.

    Rates are over finished runs (succeeded + failed + cancelled); the rejection rate is over the
    approval requests of those runs that a person or rule decided (approved or rejected).
    """
    versions = dict(prompt.versions.values_list("id", "number"))
    if numbers is not None:
        versions = {pk: n for pk, n in versions.items() if n in set(numbers)}
    results: dict[int, dict[str, Any]] = {
        number: {
            "version": number, "runs": 0, "succeeded": 0, "failed": 0, "running": 0,
            "success_rate": None, "failure_rate": None, "approvals_decided": 0, "approvals_rejected": 0,
            "rejection_rate": None, "tokens_in": 0, "tokens_out": 0, "cost": 0.0, "avg_latency_ms": None,
            "avg_cost": None,
        }
        for number in versions.values()
    }
    if not versions:
        return results
    finished = (Run.Status.SUCCEEDED, Run.Status.FAILED, Run.Status.CANCELLED)
    rows = (
        RunPromptVersion.objects.filter(version_id__in=list(versions))
        .values("version_id")
        .annotate(
            runs=Count("run_id"),
            succeeded=Count("run_id", filter=Q(run__status=Run.Status.SUCCEEDED)),
            failed=Count("run_id", filter=Q(run__status=Run.Status.FAILED)),
            done=Count("run_id", filter=Q(run__status__in=finished)),
            tokens_in=Sum("run__tokens_in"),
            tokens_out=Sum("run__tokens_out"),
            cost=Sum("run__cost"),
            avg_latency_ms=Avg("run__latency_ms", filter=Q(run__status__in=finished)),
        )
    )
    for row in rows:
        figures = results[versions[row["version_id"]]]
        figures.update(
            runs=row["runs"],
            succeeded=row["succeeded"],
            failed=row["failed"],
            running=row["runs"] - row["done"],
            success_rate=_rate(row["succeeded"], row["done"]),
            failure_rate=_rate(row["failed"], row["done"]),
            tokens_in=row["tokens_in"] or 0,
            tokens_out=row["tokens_out"] or 0,
            cost=round(row["cost"] or 0.0, 8),
            avg_cost=round((row["cost"] or 0.0) / row["runs"], 8) if row["runs"] else None,
            avg_latency_ms=round(row["avg_latency_ms"], 1) if row["avg_latency_ms"] is not None else None,
        )
    decided = (
        ApprovalRequest.objects.filter(
            run__prompt_pins__version_id__in=list(versions),
            status__in=[ApprovalRequest.Status.APPROVED, ApprovalRequest.Status.REJECTED],
        )
        .values("run__prompt_pins__version_id")
        .annotate(decided=Count("id"), rejected=Count("id", filter=Q(status=ApprovalRequest.Status.REJECTED)))
    )
    for row in decided:
        figures = results[versions[row["run__prompt_pins__version_id"]]]
        figures.update(
            approvals_decided=row["decided"],
            approvals_rejected=row["rejected"],
            rejection_rate=_rate(row["rejected"], row["decided"]),
        )
    return results
