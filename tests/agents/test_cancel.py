"""Cancelling runs through the API: queued and waiting runs stop for good, finished ones are 409."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User

from agents.engine import runtime
from agents.engine.models import Run
from approvals.models import ApprovalRequest
from console.kernel.models import AuditEvent
from tests.support.clients import ApiClient, start_refund
from traces.recording.models import Span

Api = Callable[[User | None], ApiClient]


def test_cancel_queued_run(engineer: User, api: Api) -> None:
    """Cancelling a queued run is 200 with status cancelled; the row is finished and audited."""
    client = api(engineer)
    run_id = start_refund(client, 50)
    response = client.post(f"/api/runs/{run_id}/cancel")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == str(run_id)
    assert body["status"] == "cancelled"
    assert body["finished_at"] is not None
    run = Run.objects.get(id=run_id)
    assert run.status == Run.Status.CANCELLED
    assert run.finished_at is not None
    event = AuditEvent.objects.get(action="run.cancelled")
    assert event.actor == engineer and event.object_id == str(run_id)
    assert client.get(f"/api/runs/{run_id}").json()["status"] == "cancelled"


@pytest.mark.django_db(transaction=True)
def test_cancel_waiting_run_cancels_its_approval(engineer: User, api: Api) -> None:
    """Cancelling a waiting run cancels its pending approval request; cancelling again is 409."""
    client = api(engineer)
    run_id = start_refund(client, 250)
    assert runtime.execute(run_id) == Run.Status.WAITING
    request = ApprovalRequest.objects.get(run_id=run_id)
    assert request.status == ApprovalRequest.Status.PENDING

    response = client.post(f"/api/runs/{run_id}/cancel")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    assert response.json()["pending_approvals"] == []
    assert Run.objects.get(id=run_id).status == Run.Status.CANCELLED
    request.refresh_from_db()
    assert request.status == ApprovalRequest.Status.CANCELLED
    assert AuditEvent.objects.filter(action="approval.cancelled", object_id=str(request.id)).exists()

    again = client.post(f"/api/runs/{run_id}/cancel")
    assert again.status_code == 409
    assert again.json() == {"detail": "run already finished: cancelled"}
    request.refresh_from_db()
    assert request.status == ApprovalRequest.Status.CANCELLED


@pytest.mark.django_db(transaction=True)
def test_cancelled_request_cannot_be_decided(engineer: User, reviewer: User, api: Api) -> None:
    """After its run is cancelled, approving the request is 409 and the run stays cancelled."""
    client = api(engineer)
    run_id = start_refund(client, 250)
    assert runtime.execute(run_id) == Run.Status.WAITING
    request = ApprovalRequest.objects.get(run_id=run_id)
    assert client.post(f"/api/runs/{run_id}/cancel").status_code == 200
    response = api(reviewer).post(f"/api/approvals/{request.id}/decision", {"decision": "approve"})
    assert response.status_code == 409
    assert "cancelled" in response.json()["detail"]
    assert Run.objects.get(id=run_id).status == Run.Status.CANCELLED
    request.refresh_from_db()
    assert request.status == ApprovalRequest.Status.CANCELLED and request.decided_by is None


def test_cancel_queued_run_twice_is_409(engineer: User, api: Api) -> None:
    """A second cancel of the same run is 409 naming the status; the first finish time stands."""
    client = api(engineer)
    run_id = start_refund(client, 50)
    assert client.post(f"/api/runs/{run_id}/cancel").status_code == 200
    finished_at = Run.objects.get(id=run_id).finished_at
    again = client.post(f"/api/runs/{run_id}/cancel")
    assert again.status_code == 409
    assert "cancelled" in again.json()["detail"]
    assert Run.objects.get(id=run_id).finished_at == finished_at


@pytest.mark.django_db(transaction=True)
def test_cancelled_queued_run_is_not_executed(engineer: User, api: Api) -> None:
    """A worker that gets a cancelled run's message does nothing: execute returns None, no steps."""
    client = api(engineer)
    run_id = start_refund(client, 50)
    assert client.post(f"/api/runs/{run_id}/cancel").status_code == 200
    assert runtime.execute(run_id) is None
    run = Run.objects.get(id=run_id)
    assert run.status == Run.Status.CANCELLED
    assert run.attempts == 0 and run.started_at is None and run.output is None
    assert not Span.objects.filter(run_id=run_id).exists()
