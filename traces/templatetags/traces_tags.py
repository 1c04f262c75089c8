"""What the run page's inspection partials need, read in the template (agents/web/views.py is not ours)."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse

from agents.engine.models import Run
from traces.inspection.feedback import can_give_feedback
from traces.inspection.threads import thread_size
from traces.recording.models import Feedback

register = template.Library()


@register.simple_tag
def run_feedback(run: Run, user: Any) -> dict[str, Any]:
    """The run's scores (newest first), the viewer's own, the totals and whether the viewer may score."""
    items = list(Feedback.objects.filter(run=run).select_related("user"))
    return {
        "items": items,
        "mine": next((f for f in items if f.user_id == getattr(user, "pk", None)), None),
        "up": sum(1 for f in items if f.score == Feedback.UP),
        "down": sum(1 for f in items if f.score == Feedback.DOWN),
        "can_give": can_give_feedback(user),
    }


@register.simple_tag
def run_thread(run: Run) -> dict[str, Any]:
    """The size of the run's thread and the thread page's address (None when the id cannot be linked)."""
    try:
        url = reverse("thread_detail", args=[run.thread_id]) if run.thread_id else None
    except NoReverseMatch:
        url = None
    return {"size": thread_size(run) if run.thread_id else 1, "url": url}
