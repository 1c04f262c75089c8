"""Queues API: the queues the caller reviews, with their backlog, and each queue's statistics.

Mounted at /api/queues by console/web/api.py.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypedDict

from django.contrib.auth.models import Group
from django.db.models import Prefetch
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from approvals.models import Queue
from approvals.stats import pending_count_subquery, queue_stats
from console.kernel.auth import role_auth
from console.kernel.errors import Forbidden, NotFound
from console.kernel.roles import REVIEWERS, has_role, is_admin
from console.kernel.schemas import ErrorOut

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

router = Router(tags=["queues"], auth=role_auth(lambda user: has_role(user, REVIEWERS), "review approvals"))


class QueueOut(Schema):
    name: str
    description: str
    required_approvals: int
    sla_minutes: int
    claim_minutes: int
    reason_codes: list[str]
    timeout_action: str
    escalation_queue: str | None
    requester_may_answer: str = Field(
        ..., description='"default" (questions only), "always" or "never": whether the run\'s requester may answer'
    )
    reviewer_groups: list[str]
    pending: int


class DayCountOut(Schema):
    date: date
    count: int


class QueueStatsOut(Schema):
    queue: str
    days: int
    since: datetime
    pending: int
    overdue: int
    requests_per_day: list[DayCountOut]
    outcomes: dict[str, int]
    decided: int
    approval_rate: float | None
    rejection_rate: float | None
    median_decision_seconds: float | None
    p95_decision_seconds: float | None
    rejection_reasons: dict[str, int]
    decisions_per_reviewer: dict[str, int]


class _Backlog(TypedDict):
    pending: int


def queue_out(queue: WithAnnotations[Queue, _Backlog]) -> dict[str, Any]:
    """A queue as the API shows it; expects the annotations and prefetch of `_queues()`."""
    return {
        "name": queue.name,
        "description": queue.description,
        "required_approvals": queue.required_approvals,
        "sla_minutes": queue.sla_minutes,
        "claim_minutes": queue.claim_minutes,
        "reason_codes": list(queue.reason_codes or []),
        "timeout_action": queue.timeout_action,
        "escalation_queue": queue.escalation_queue.name if queue.escalation_queue else None,
        "requester_may_answer": queue.requester_may_answer,
        "reviewer_groups": [group.name for group in queue.reviewer_groups.all()],
        "pending": queue.pending,
    }


def _queues(user: Any) -> Any:
    """The queues `user` reviews (admins: all), ready for `queue_out` in two queries in all."""
    queues = (
        Queue.objects.select_related("escalation_queue")
        .prefetch_related(Prefetch("reviewer_groups", queryset=Group.objects.only("id", "name").order_by("name")))
        .annotate(pending=pending_count_subquery())
        .order_by("name")
    )
    if is_admin(user):
        return queues
    # A subquery, not a join: a reviewer in two of a queue's groups must not see it twice.
    return queues.filter(id__in=Queue.objects.filter(reviewer_groups__user=user).values("id"))


@router.get("", response={200: list[QueueOut], 401: ErrorOut, 403: ErrorOut})
def list_queues(request: HttpRequest) -> list[dict[str, Any]]:
    """The queues the caller reviews (admins: every queue), by name, with their pending count."""
    return [queue_out(queue) for queue in _queues(request.user)]


@router.get("/{name}/stats", response={200: QueueStatsOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut})
def get_queue_stats(request: HttpRequest, name: str, days: int = Query(30, ge=1, le=365)) -> dict[str, Any]:
    """Backlog now, and arrivals, outcomes, time to decision, reasons and reviewers over `days` days."""
    queue = Queue.objects.filter(name=name).first()
    if queue is None:
        raise NotFound("queue not found")
    if not queue.is_reviewer(request.user):
        raise Forbidden(f"you are not a reviewer of the {queue.name!r} queue")
    return queue_stats(queue, days=days)
