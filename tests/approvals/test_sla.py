"""Time: an overdue request escalates, is decided by the queue's default action, or is flagged
once; every automatic action is recorded with its rule. The clock is passed in (frozen)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from agents.demo.models import Refund
from agents.engine import runtime
from agents.engine.models import Run
from approvals.models import Decision, Queue
from approvals.services import enforce_sla
from console.kernel.models import AuditEvent
from tests.support.runs import waiting_refund

pytestmark = pytest.mark.django_db(transaction=True)


def _payments(**settings: Any) -> Queue:
    Queue.objects.filter(name="payments").update(sla_minutes=10, **settings)
    return Queue.objects.get(name="payments")


def test_not_due_yet_nothing_happens(engineer: Any) -> None:
    """Before its due time a request is left alone."""
    _payments(timeout_action="approve")
    _, request = waiting_refund(engineer)
    assert enforce_sla(now=request.due_at - timedelta(seconds=1)) == {"escalated": 0, "approved": 0, "rejected": 0, "notified": 0}


def test_breach_escalates_to_the_escalation_queue(engineer: Any) -> None:
    """Overdue with action escalate: the request moves, its due time restarts, and it is audited as automatic."""
    managers = Queue.objects.create(name="managers", sla_minutes=60)
    _payments(timeout_action="escalate", escalation_queue=managers)
    _, request = waiting_refund(engineer)
    later = request.due_at + timedelta(minutes=1)
    assert enforce_sla(now=later)["escalated"] == 1
    request.refresh_from_db()
    assert request.queue == managers and request.status == "pending" and request.escalation_count == 1
    assert request.due_at == later + timedelta(minutes=60)
    event = AuditEvent.objects.get(action="approval.escalated")
    assert event.actor is None and event.data["automatic"] is True and "sla: payments" in event.data["rule"]
    assert AuditEvent.objects.filter(action="approval.sla_breached").count() == 1


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_breach_applies_the_default_action_as_an_automatic_decision(engineer: Any, action: str) -> None:
    """Overdue with a default action: decided automatically with the rule recorded; the run resumes."""
    _payments(timeout_action=action)
    run, request = waiting_refund(engineer)
    counts = enforce_sla(now=request.due_at + timedelta(seconds=5))
    assert counts["approved" if action == "approve" else "rejected"] == 1
    request.refresh_from_db()
    assert request.status == ("approved" if action == "approve" else "rejected")
    assert request.decided_by is None and request.decided_automatically_by.startswith("sla: payments")
    decision = Decision.objects.get(request=request)
    assert decision.user is None and decision.automatic_rule == request.decided_automatically_by
    assert Run.objects.get(id=run.id).status == "queued"
    assert runtime.execute(run.id) == "succeeded"
    refunded = Refund.objects.filter(order_id=request.proposed_args["order_id"]).exists()
    assert refunded is (action == "approve")


def test_wait_flags_the_breach_once(engineer: Any) -> None:
    """Overdue with action wait: recorded and notified once, not on every sweep."""
    _payments(timeout_action="wait")
    _, request = waiting_refund(engineer)
    later = request.due_at + timedelta(minutes=1)
    assert enforce_sla(now=later)["notified"] == 1
    assert enforce_sla(now=later + timedelta(minutes=5))["notified"] == 0
    request.refresh_from_db()
    assert request.status == "pending" and request.breach_notified_at == later
    assert AuditEvent.objects.filter(action="approval.sla_breached").count() == 1


def test_due_time_comes_from_the_queue_sla(engineer: Any) -> None:
    """A new request is due `sla_minutes` after it arrives."""
    _payments()
    before = timezone.now()
    _, request = waiting_refund(engineer)
    assert before + timedelta(minutes=10) <= request.due_at <= timezone.now() + timedelta(minutes=10)
