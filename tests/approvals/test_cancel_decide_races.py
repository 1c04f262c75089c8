"""Cancelling a run while a reviewer approves its request: one lock order (docs/architecture.md,
"Locks"), so no deadlock and no 500; whoever comes second gets a 409 that says what happened, or
(a cancel after the approval) cancels the resumed run.

The semantics: a cancel that comes first cancels the run and its pending request, and the approve
answers 409 naming the cancelled run. An approve that comes first settles the request and requeues
the run; the cancel that follows still cancels the (queued) run, so the approved action never runs.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connections

from agents.engine.models import Run
from agents.engine.services import cancel_run
from approvals.models import ApprovalRequest, Decision, Queue
from approvals.services import enforce_sla
from tests.support.clients import ApiClient
from tests.support.runs import waiting_refund

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]

RACES = 50
SLA_RACES = 20


def _client(user: User) -> ApiClient:
    client = ApiClient(user)
    # A server error is answered (500), as it would be to a program, not raised into the test.
    client.client.raise_request_exception = False
    return client


def _cancelled_message(run_id: uuid.UUID) -> str:
    return f"this request was cancelled with its run: run {run_id} was cancelled by engineer at "


def test_fifty_approve_cancel_races_end_with_one_winner_and_no_deadlock(
    engineer: User, reviewer: User, purge_broker: None, broker_purged_after: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    waiting = [waiting_refund(engineer) for _ in range(RACES)]
    canceller, approver = _client(engineer), _client(reviewer)
    barrier = threading.Barrier(2, timeout=30)
    answers: dict[str, list[tuple[int, str]]] = {"cancel": [], "approve": []}

    def race(side: str, client: ApiClient, calls: list[tuple[str, dict[str, Any]]]) -> None:
        try:
            for path, body in calls:
                barrier.wait()  # both calls of one race start together
                response = client.post(path, body)
                answers[side].append((response.status_code, response.content.decode()))
        finally:
            connections.close_all()

    cancels = [(f"/api/runs/{run.id}/cancel", {}) for run, _ in waiting]
    approves = [(f"/api/approvals/{request.id}/decision", {"decision": "approve"}) for _, request in waiting]
    threads = [
        threading.Thread(target=race, args=("cancel", canceller, cancels)),
        threading.Thread(target=race, args=("approve", approver, approves)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert len(answers["cancel"]) == len(answers["approve"]) == RACES, answers
    failed = [f"{side} {status}" for side, calls in answers.items() for status, _ in calls if status not in (200, 409)]
    assert failed == [], f"{len(failed)} of {2 * RACES} calls failed"
    deadlocks = caplog.text.count("deadlock detected") + sum(
        body.count("deadlock detected") for calls in answers.values() for _, body in calls
    )
    assert deadlocks == 0

    for (run, request), (cancel_status, cancel_body), (approve_status, approve_body) in zip(
        waiting, answers["cancel"], answers["approve"], strict=True
    ):
        run.refresh_from_db()
        request.refresh_from_db()
        # The cancel always wins the run: it was waiting, or queued again by the approval.
        assert (cancel_status, run.status) == (200, Run.Status.CANCELLED), cancel_body
        if approve_status == 409:
            # The cancel came first: the request went with the run, and nobody decided it.
            assert request.status == ApprovalRequest.Status.CANCELLED
            assert not Decision.objects.filter(request=request).exists()
            assert _cancelled_message(run.id) in approve_body, approve_body
        else:
            # The approve came first: the request stays approved, by the reviewer, once.
            assert request.status == ApprovalRequest.Status.APPROVED, approve_body
            assert list(Decision.objects.filter(request=request).values_list("user__username", flat=True)) == [
                "reviewer"
            ]


def test_approve_after_cancel_is_told_the_run_was_cancelled(
    engineer: User, reviewer: User, purge_broker: None, broker_purged_after: None
) -> None:
    run, request = waiting_refund(engineer)
    assert _client(engineer).post(f"/api/runs/{run.id}/cancel").status_code == 200

    response = _client(reviewer).post(f"/api/approvals/{request.id}/decision", {"decision": "approve"})

    assert response.status_code == 409, response.content
    detail = response.json()["detail"]
    assert detail.startswith(_cancelled_message(run.id)), detail
    run.refresh_from_db()
    assert detail == _cancelled_message(run.id) + run.finished_at.isoformat()


def test_cancel_after_approve_cancels_the_resumed_run(
    engineer: User, reviewer: User, purge_broker: None, broker_purged_after: None
) -> None:
    run, request = waiting_refund(engineer)
    assert _client(reviewer).post(f"/api/approvals/{request.id}/decision", {"decision": "approve"}).status_code == 200
    assert Run.objects.get(id=run.id).status == Run.Status.QUEUED

    response = _client(engineer).post(f"/api/runs/{run.id}/cancel")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == Run.Status.CANCELLED
    request.refresh_from_db()
    assert request.status == ApprovalRequest.Status.APPROVED


def test_sla_auto_approval_racing_cancels_ends_without_a_deadlock(
    engineer: User, purge_broker: None, broker_purged_after: None
) -> None:
    """The SLA rule decides through the same lock order: each overdue request is approved by the
    rule or cancelled with its run, never both, and neither side fails."""
    Queue.objects.filter(name="payments").update(sla_minutes=10, timeout_action="approve")
    waiting = [waiting_refund(engineer) for _ in range(SLA_RACES)]
    barrier = threading.Barrier(2, timeout=30)
    errors: list[str] = []

    def race(calls: list[Callable[[], object]]) -> None:
        try:
            for call in calls:
                barrier.wait()
                try:
                    call()
                except Exception as exc:  # a deadlock is an OperationalError: record it, keep racing
                    errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connections.close_all()

    def overdue(request: ApprovalRequest) -> Callable[[], object]:
        # Due times grow with creation: just past this one's, only this request is overdue.
        assert request.due_at is not None
        return lambda: enforce_sla(now=request.due_at + timedelta(microseconds=1))

    def cancel(run: Run) -> Callable[[], object]:
        return lambda: cancel_run(run, engineer)

    threads = [
        threading.Thread(target=race, args=([overdue(request) for _, request in waiting],)),
        threading.Thread(target=race, args=([cancel(run) for run, _ in waiting],)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert errors == [], f"{len(errors)} of {2 * SLA_RACES} calls failed: {errors[:1]}"
    for run, request in waiting:
        run.refresh_from_db()
        request.refresh_from_db()
        assert run.status == Run.Status.CANCELLED
        decisions = list(Decision.objects.filter(request=request).values_list("automatic_rule", flat=True))
        if request.status == ApprovalRequest.Status.CANCELLED:
            assert decisions == []
        else:
            assert request.status == ApprovalRequest.Status.APPROVED
            assert len(decisions) == 1 and decisions[0].startswith("sla: payments")
