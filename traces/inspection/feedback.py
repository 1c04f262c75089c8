"""People's scores of runs: give one (again replaces it), sum them per agent, filter runs by them."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from agents.engine.models import Run
from console.kernel.errors import Invalid
from console.kernel.roles import ENGINEERS, REVIEWERS, has_role
from traces.recording.models import Feedback

__all__ = ["FILTER_VALUES", "can_give_feedback", "filter_runs", "give_feedback", "per_agent"]

# The values of the runs list's `feedback` filter.
FILTER_VALUES = ("up", "down", "none")
LABEL_MAX = Feedback._meta.get_field("label").max_length or 64
COMMENT_MAX = 5000


def can_give_feedback(user: Any) -> bool:
    """Engineers and reviewers (and admins) may score runs."""
    return has_role(user, ENGINEERS, REVIEWERS)


def give_feedback(run: Run, user: Any, score: int, label: str = "", comment: str = "") -> tuple[Feedback, bool]:
    """Record `user`'s score of `run`; a second score from the same person replaces the first.

    Returns:
        (the feedback row, True if it is new / False if it replaced an earlier score).

    Raises:
        Invalid: the score is not +1 or -1, or the label or comment is too long or holds a NUL.
    """
    errors = []
    if score not in (Feedback.UP, Feedback.DOWN) or isinstance(score, bool):
        errors.append({"loc": ["body", "score"], "msg": "must be 1 (thumbs up) or -1 (thumbs down)", "type": "score"})
    for name, value, limit in (("label", label, LABEL_MAX), ("comment", comment, COMMENT_MAX)):
        if len(value) > limit:
            errors.append({"loc": ["body", name], "msg": f"at most {limit} characters", "type": "too_long"})
        if "\x00" in value:
            errors.append({"loc": ["body", name], "msg": "contains a NUL character", "type": "nul_character"})
    if errors:
        raise Invalid(errors)
    # update_or_create locks the row, and re-reads it if a concurrent first score won the insert.
    return Feedback.objects.update_or_create(
        run=run,
        user=user,
        defaults={"score": score, "label": label.strip(), "comment": comment.strip(), "created_at": timezone.now()},
    )


def per_agent() -> list[dict[str, Any]]:
    """Per agent with any feedback: thumbs up, thumbs down and their sum (`score` = up - down), by agent key."""
    rows = (
        Feedback.objects.values("run__agent__key")
        .annotate(
            up=Count("id", filter=Q(score=Feedback.UP)),
            down=Count("id", filter=Q(score=Feedback.DOWN)),
            score=Sum("score"),
        )
        .order_by("run__agent__key")
    )
    return [{"agent": r["run__agent__key"], "up": r["up"], "down": r["down"], "score": r["score"] or 0} for r in rows]


def filter_runs(qs: QuerySet[Run], value: str | None) -> QuerySet[Run]:
    """Narrow a Run queryset by feedback: "up" = has a thumbs up, "down" = has a thumbs down,
    "none" = has no feedback; "" or None leaves it as it is. A run scored both ways matches both.

    Raises:
        Invalid: any other value (the API answers 422; a page may catch it and show all runs).
    """
    if not value:
        return qs
    if value == "none":
        return qs.filter(~Exists(Feedback.objects.filter(run=OuterRef("pk"))))
    if value in ("up", "down"):
        score = Feedback.UP if value == "up" else Feedback.DOWN
        return qs.filter(Exists(Feedback.objects.filter(run=OuterRef("pk"), score=score)))
    raise Invalid(
        [{"loc": ["query", "feedback"], "msg": f"must be one of {', '.join(FILTER_VALUES)}", "type": "enum"}]
    )
