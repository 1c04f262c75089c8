"""Before a prompt version is promoted: replay recent runs with it, for the reviewer to compare.

`replay_for_promotion` takes a pending promotion request (`prompt.promote`) and replays the last
finished runs of the agents that use the prompt with the candidate version, as one batch (the
same `metadata["replay"]["batch"]` tag as traces/inspection/batch.py, so the batch summary page shows it).
Each replay is recorded up to the first model call that renders the prompt and live from there
(traces.inspection.replay turns a recorded replay with another prompt version into that mixed replay), so
only what the new version can change is run again. The batch id is attached to the request
(`ApprovalRequest.regression_batches`) and its results are shown on the request's page.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from agents.engine.models import Agent, Run
from agents.prompt_admin.services import PROMOTE_ACTION
from agents.prompts.models import Prompt, PromptVersion, RunPromptVersion
from approvals.models import ApprovalRequest
from console.kernel import audit
from console.kernel.errors import Conflict, Forbidden, Invalid, NotFound, StewardError
from console.kernel.roles import can_start_runs
from traces.inspection.batch import MAX_BATCH, batch_runs, tag_batch
from traces.inspection.replay import replay

__all__ = ["DEFAULT_LIMIT", "candidate_runs", "regression_context", "regression_results", "replay_for_promotion"]

DEFAULT_LIMIT = 5


def _promotion(request: ApprovalRequest) -> tuple[Prompt, PromptVersion]:
    """The prompt and the candidate version a promotion request proposes."""
    if request.action != PROMOTE_ACTION:
        raise Invalid([{"loc": ["path", "request_id"], "msg": "this request is not a prompt promotion"}])
    args = request.proposed_args or {}
    number = args.get("version")
    version = (
        PromptVersion.objects.select_related("prompt")
        .filter(prompt__name=args.get("prompt"), number=number)
        .first()
        if number is not None
        else None
    )
    if version is None:
        raise NotFound(f"prompt {args.get('prompt')!r} has no version {args.get('version')}")
    return version.prompt, version


def candidate_runs(prompt: Prompt, limit: int) -> list[Run]:
    """The last `limit` finished runs, newest first, of the agents whose runs pinned `prompt`.

    Replays are left out (a second regression must not replay the first one's replays, only real
    traffic), and so are imported runs (read-only).
    """
    # One EXISTS per agent (a short table) that stops at its first pin, not a pass over every pin.
    pinned = RunPromptVersion.objects.filter(version__prompt=prompt, run__agent_id=OuterRef("pk"))
    agents = Agent.objects.filter(Exists(pinned)).values("id")
    return list(
        Run.objects.select_related("agent")
        .filter(agent_id__in=agents, status__in=Run.FINISHED, parent_run__isnull=True)
        .exclude(metadata__has_key="imported")
        .order_by("-created_at", "-id")[:limit]
    )


def replay_for_promotion(request: ApprovalRequest, user: Any, limit: int = DEFAULT_LIMIT) -> list[Run]:
    """Replay the last `limit` finished runs that use the prompt with the candidate version.

    Returns:
        The new (queued) runs, newest original first; each carries `metadata["replay"]["batch"]`
        and `["promotion_request"]`; the batch is appended to `request.regression_batches`.

    Raises:
        Forbidden: the user may not start runs. NotFound: the user cannot see the request.
        Invalid: not a promotion request, or a bad limit. Conflict: the request is no longer
        pending, or there is no finished run to replay.
    """
    if not can_start_runs(user):
        raise Forbidden("your role does not allow you to replay runs")
    if not ApprovalRequest.objects.visible_to(user).filter(id=request.id).exists():
        raise NotFound("approval request not found")
    if not 1 <= limit <= MAX_BATCH:
        raise Invalid([{"loc": ["body", "limit"], "msg": f"limit must be between 1 and {MAX_BATCH}"}])
    prompt, version = _promotion(request)
    if request.status != ApprovalRequest.Status.PENDING:
        raise Conflict(f"this promotion is already {request.status}: replays help only before the decision")
    originals = candidate_runs(prompt, limit)
    if not originals:
        raise Conflict(f"no finished runs of an agent using {prompt.name!r} to replay")
    batch = str(uuid.uuid4())
    created: list[Run] = []
    skipped: list[dict[str, str]] = []
    with transaction.atomic():
        for original in originals:
            try:
                new = replay(original, user, mode="recorded", prompt_versions={prompt.name: version.number})
            except StewardError as exc:
                # One run that cannot be replayed (its agent is gone) must not sink the others.
                skipped.append({"run": str(original.id), "reason": str(exc.detail)})
                continue
            tag_batch(new, batch, promotion_request=str(request.id))
            created.append(new)
        entry = {
            "batch": batch,
            "version": version.number,
            "limit": limit,
            "runs": len(created),
            "skipped": skipped,
            "by": user.get_username(),
            "at": timezone.now().isoformat(),
        }
        # Locked, so two reviewers starting replays at once both keep their batch.
        request.add_regression_batch(entry)
        audit.record(
            user, "prompt.regression_replayed", request, prompt=prompt.name, version=version.number, batch=batch,
            runs=[str(r.id) for r in created],
        )
    return created


def regression_results(request: ApprovalRequest) -> list[dict[str, Any]]:
    """The request's regression batches, newest first, each with its replays beside their originals."""
    results = []
    for entry in reversed(request.regression_batches or []):
        runs = batch_runs(entry["batch"])
        results.append(
            {
                **entry,
                "rows": [{"original": r.parent_run, "replay": r} for r in runs],
                "succeeded": sum(1 for r in runs if r.status == Run.Status.SUCCEEDED),
                "active": any(r.status in Run.ACTIVE for r in runs),
            }
        )
    return results


def regression_context(approval: ApprovalRequest, user: Any) -> dict[str, Any]:
    """What the request page's regression panel shows (empty for requests that are not promotions)."""
    if approval.action != PROMOTE_ACTION:
        return {}
    batches = regression_results(approval)
    return {
        "version": (approval.proposed_args or {}).get("version"),
        "prompt": (approval.proposed_args or {}).get("prompt"),
        "batches": batches,
        "active": any(batch["active"] for batch in batches),
        "can_replay": approval.status == ApprovalRequest.Status.PENDING and can_start_runs(user),
        "default_limit": DEFAULT_LIMIT,
        "max_limit": MAX_BATCH,
    }
