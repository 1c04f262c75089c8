"""Replay an agent's last failed runs with one change, as a batch whose outcome is one table.

Each failed run is replayed as a new run (traces.inspection.replay.replay) in `mixed` mode: recorded up to
the first call that can differ, live from it on. Without a state patch that is the step whose
node failed, so everything before the failure plays back from the recording and the failing
step runs for real. With a state patch the state is edited at `from_step` (by default the
failing step) and the run is live from there. A change of prompt versions or of the model moves
the live point earlier, to the first model call the change affects, when that comes first (a
recording cannot say what another prompt or model would have answered). The new runs carry
`metadata["replay"]["batch"] = <batch id>`, which is how the summary page finds them.
"""

from __future__ import annotations

import uuid
from typing import Any

from agents.engine.models import Run
from agents.prompts.models import PromptVersion
from console.kernel.errors import Invalid, NotFound
from traces.inspection.replay import changed_prompts, first_changed_call, replay
from traces.recording.models import Span

__all__ = [
    "MAX_BATCH", "batch_runs", "changed_prompts", "failed_step", "first_changed_call", "last_failed", "replay_failed",
    "tag_batch",
]

# The most runs one batch may replay.
MAX_BATCH = 50


def last_failed(agent_key: str, limit: int) -> list[Run]:
    """The agent's last `limit` failed runs, newest first. Imported runs are read-only and pruned
    runs have nothing left to replay from: both skipped."""
    return list(
        Run.objects.select_related("agent")
        .filter(agent__key=agent_key, status=Run.Status.FAILED, pruned_at__isnull=True)
        .exclude(metadata__has_key="imported")
        .order_by("-created_at", "-id")[:limit]
    )


def failed_step(run: Run) -> int | None:
    """The step of the run's first failed node span (None when no node failed, e.g. a crash before any)."""
    return (
        Span.objects.filter(run=run, kind=Span.Kind.NODE, status=Span.Status.ERROR, step__isnull=False)
        .order_by("seq").values_list("step", flat=True).first()
    )


def tag_batch(run: Run, batch: str, **extra: Any) -> None:
    """Mark a replay as part of a batch (the summary page and the promotion page find it by this)."""
    metadata = dict(run.metadata or {})
    metadata["replay"] = {**(metadata.get("replay") or {}), "batch": batch, **extra}
    run.save_metadata(metadata)


def _validate(limit: int, from_step: int | None, prompt_versions: dict[str, int] | None, model: str | None) -> None:
    errors = []
    if not 1 <= limit <= MAX_BATCH:
        errors.append({"loc": ["body", "limit"], "msg": f"limit must be between 1 and {MAX_BATCH}"})
    if from_step is not None and from_step < 0:
        errors.append({"loc": ["body", "from_step"], "msg": "from_step must be 0 or more"})
    for name, number in (prompt_versions or {}).items():
        if not PromptVersion.objects.filter(prompt__name=name, number=number).exists():
            errors.append({"loc": ["body", "prompt_versions", name], "msg": f"prompt {name!r} has no version {number}"})
    if model is not None and (not model.strip() or len(model) > 200):
        errors.append({"loc": ["body", "model"], "msg": "name a model (at most 200 characters), e.g. openai:gpt-4o-mini"})
    if errors:
        raise Invalid(errors)


def replay_failed(
    agent_key: str,
    user: Any,
    *,
    limit: int = 5,
    state_patch: dict[str, Any] | None = None,
    from_step: int | None = None,
    prompt_versions: dict[str, int] | None = None,
    model: str | None = None,
) -> list[Run]:
    """Replay the agent's last `limit` failed runs (newest first) as one batch.

    Each replay is `mixed`: recorded until the first changed call, live from it. Without a
    state patch that is the failed step (`from_step`, if given, only decides where the replay
    starts); with one, the state is patched at `from_step` (default: the failed step) and the
    run is live from there. With `prompt_versions` ({name: version number}) or `model`, it is
    the earlier of that step and the first model call the change affects.

    Returns:
        The new runs, in the order of their originals (newest original first); each carries
        `metadata["replay"]["batch"]`.

    Raises:
        NotFound: no agent with this key has runs.
        Invalid: a bad limit or step, or a patch the replay refuses (its message is kept).
        Conflict: a run cannot be replayed (the agent's graph changed since it ran).
    """
    _validate(limit, from_step, prompt_versions, model)
    if not Run.objects.filter(agent__key=agent_key).exists():
        raise NotFound(f"no runs of an agent {agent_key!r}")
    batch = str(uuid.uuid4())
    created: list[Run] = []
    for original in last_failed(agent_key, limit):
        failure = failed_step(original)
        start = from_step
        live_from: int
        if state_patch is not None:
            if start is None:
                start = failure if failure is not None else 0
            live_from = start
        else:
            live_from = failure if failure is not None else 0
            if start is not None:
                live_from = max(live_from, start)
        changed_call = first_changed_call(original, start, prompt_versions, model)
        if changed_call is not None:
            live_from = min(live_from, changed_call)
        new = replay(
            original, user, from_step=start, mode="mixed", live_from_step=live_from, state_patch=state_patch,
            prompt_versions=prompt_versions or None, model=model or None,
        )
        tag_batch(new, batch)
        created.append(new)
    return created


def batch_runs(batch_id: uuid.UUID | str) -> list[Run]:
    """The replays of a batch, oldest replay first (that is, newest original first), with their originals."""
    return list(
        Run.objects.select_related("agent", "parent_run")
        .filter(metadata__replay__batch=str(batch_id))
        .order_by("created_at", "id")
    )
