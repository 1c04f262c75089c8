"""Outgoing webhooks against a real HTTP receiver: signed bodies, Slack payloads, retries with
backoff recorded on the delivery row, filters by queue and event, and a real Celery worker."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from approvals import notifications, webhooks
from approvals.models import ApprovalRequest, Queue, Webhook, WebhookDelivery
from approvals.tasks import deliver_webhook
from tests.support.processes import free_port
from tests.support.waiting import wait_for

# notify() sends a task per delivery to the broker; these tests make the attempts themselves (or
# with their own worker), so nothing they queued may reach a later test's worker. The receivers
# listen on 127.0.0.1, which Steward refuses unless STEWARD_OUTBOUND_ALLOW lists it.
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("broker_purged_after", "outbound_allows_loopback"),
]

SECRET = "whsec-test-0123456789"


def _signed(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _deliveries(webhook: Webhook) -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.filter(webhook=webhook).order_by("created_at"))


def test_json_webhook_is_signed_and_carries_the_request(pending: ApprovalRequest, receiver: Any) -> None:
    """The body is JSON about the request with its link; the signature is HMAC-SHA256 of those bytes."""
    r = receiver()
    hook = Webhook.objects.create(name="ops", url=r.url, secret=SECRET)

    notifications.notify("approval.requested", pending)
    [delivery] = _deliveries(hook)
    assert delivery.status == "pending" and delivery.attempts == 0 and delivery.event == "approval.requested"

    deliver_webhook.apply(args=[str(delivery.id)])

    [sent] = r.received
    assert sent["path"] == "/hooks/steward"
    assert sent["headers"]["Content-Type"] == "application/json"
    assert sent["headers"]["X-Steward-Signature"] == _signed(sent["body"])
    assert sent["headers"]["X-Steward-Signature"] != _signed(sent["body"], "another secret")
    assert sent["headers"]["X-Steward-Event"] == "approval.requested"
    assert sent["headers"]["X-Steward-Delivery"] == str(delivery.id)
    body = json.loads(sent["body"])
    assert body["event"] == "approval.requested"
    assert body["url"] == f"{settings.STEWARD_BASE_URL}/approvals/{pending.id}/"
    approval = body["approval"]
    assert approval["id"] == str(pending.id)
    assert approval["queue"] == "payments" and approval["action"] == "issue_refund"
    assert approval["proposed_args"] == pending.proposed_args
    assert approval["summary"] == pending.summary and "250" in approval["summary"]
    assert approval["status"] == "pending"
    assert approval["run_id"] == str(pending.run_id)
    assert approval["requested_by"] == "engineer"
    assert approval["due_at"] == pending.due_at.isoformat()
    assert approval["created_at"] == pending.created_at.isoformat()

    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 1
    assert delivery.last_status_code == 200 and delivery.last_error == ""
    assert delivery.delivered_at is not None and delivery.next_attempt_at is None


def test_slack_format_is_an_incoming_webhook_body(pending: ApprovalRequest, receiver: Any) -> None:
    """Slack gets `text` with a link to the request and `blocks`; a model's markup stays text."""
    r = receiver()
    hook = Webhook.objects.create(name="slack", url=r.url, secret=SECRET, format=Webhook.Format.SLACK)
    pending.summary = "Refund <!channel> now <http://evil.example|click> & done"

    notifications.notify("approval.escalated", pending)
    [delivery] = _deliveries(hook)
    deliver_webhook.apply(args=[str(delivery.id)])

    [sent] = r.received
    assert sent["headers"]["X-Steward-Signature"] == _signed(sent["body"])
    body = json.loads(sent["body"])
    url = f"{settings.STEWARD_BASE_URL}/approvals/{pending.id}/"
    assert f"<{url}|Open the request>" in body["text"]
    assert "Approval escalated" in body["text"]
    assert "&lt;!channel&gt;" in body["text"] and "<!channel>" not in body["text"]
    assert "<http://evil.example|click>" not in json.dumps(body)
    assert [b["type"] for b in body["blocks"]] == ["section", "section", "actions"]
    assert body["blocks"][2]["elements"][0]["url"] == url
    assert set(body) == {"text", "blocks"}


@override_settings(STEWARD_WEBHOOK_BACKOFF_SECONDS=0.01)
def test_failures_are_retried_with_backoff_and_logged_on_the_row(pending: ApprovalRequest, receiver: Any) -> None:
    """500, 500, 200: three attempts, each recorded on the row, waits of 0.01 then 0.02 s."""
    r = receiver(script=[500, 500, 200])
    hook = Webhook.objects.create(name="flaky", url=r.url, secret=SECRET)
    notifications.notify("approval.requested", pending)
    [delivery] = _deliveries(hook)

    countdowns = [webhooks.deliver(delivery.id)]
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.attempts == 1
    # The status in Steward's words; what the receiver answered is not kept (it could be anything
    # an internal service says).
    assert delivery.last_status_code == 500 and delivery.last_error == "HTTP 500 Internal Server Error"
    assert delivery.next_attempt_at is not None and delivery.delivered_at is None
    while countdowns[-1] is not None:
        time.sleep(countdowns[-1])
        countdowns.append(webhooks.deliver(delivery.id))

    assert countdowns == [0.01, 0.02, None]
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 3
    assert delivery.last_status_code == 200 and delivery.last_error == ""
    assert len(r.received) == 3
    # Every attempt sends the same signed bytes under the same delivery id (receivers can dedupe).
    assert len({s["body"] for s in r.received}) == 1
    assert {s["headers"]["X-Steward-Delivery"] for s in r.received} == {str(delivery.id)}
    assert all(s["headers"]["X-Steward-Signature"] == _signed(s["body"]) for s in r.received)
    # Settled: another message for it (a redelivery) sends nothing.
    assert webhooks.deliver(delivery.id) is None and len(r.received) == 3


@override_settings(STEWARD_WEBHOOK_BACKOFF_SECONDS=0.01)
def test_the_celery_task_schedules_its_retries(pending: ApprovalRequest, receiver: Any) -> None:
    """The task itself retries (run eagerly here, Celery makes the retries at once)."""
    r = receiver(script=[503, 500])
    hook = Webhook.objects.create(name="flaky", url=r.url, secret=SECRET)
    notifications.notify("approval.requested", pending)
    [delivery] = _deliveries(hook)

    deliver_webhook.apply(args=[str(delivery.id)])

    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 3 and len(r.received) == 3


@override_settings(STEWARD_WEBHOOK_BACKOFF_SECONDS=0.001)
def test_a_receiver_that_always_fails_ends_failed_after_max_attempts(pending: ApprovalRequest, receiver: Any) -> None:
    r = receiver(default=500)
    hook = Webhook.objects.create(name="down", url=r.url, secret=SECRET)
    notifications.notify("approval.requested", pending)
    [delivery] = _deliveries(hook)

    countdowns = []
    while (countdown := webhooks.deliver(delivery.id)) is not None:
        countdowns.append(countdown)
        time.sleep(countdown)

    assert settings.STEWARD_WEBHOOK_MAX_ATTEMPTS == 6
    assert countdowns == [0.001, 0.002, 0.004, 0.008, 0.016]
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == 6
    assert delivery.last_status_code == 500 and delivery.next_attempt_at is None and delivery.delivered_at is None
    assert len(r.received) == 6
    assert webhooks.deliver(delivery.id) is None and len(r.received) == 6


def test_network_errors_and_redirects_are_failed_attempts(pending: ApprovalRequest, receiver: Any) -> None:
    """Nobody listening: no status code, the error recorded. A redirect: not delivered, not followed."""
    closed = Webhook.objects.create(name="closed", url=f"http://127.0.0.1:{free_port()}/hook", secret=SECRET)
    r = receiver(default=302)
    moved = Webhook.objects.create(name="moved", url=r.url, secret=SECRET)
    notifications.notify("approval.requested", pending)

    [to_closed] = _deliveries(closed)
    assert webhooks.deliver(to_closed.id) == settings.STEWARD_WEBHOOK_BACKOFF_SECONDS
    to_closed.refresh_from_db()
    assert to_closed.status == "pending" and to_closed.attempts == 1
    assert to_closed.last_status_code is None and "refused" in to_closed.last_error.lower()

    [to_moved] = _deliveries(moved)
    assert webhooks.deliver(to_moved.id) is not None
    to_moved.refresh_from_db()
    assert to_moved.status == "pending" and to_moved.last_status_code == 302
    assert [s["path"] for s in r.received] == ["/hooks/steward"]


def test_only_matching_active_webhooks_get_a_delivery(pending: ApprovalRequest, receiver: Any) -> None:
    """By queue (or every queue) and by event (or every event); inactive ones never."""
    url = receiver().url
    other_queue = Queue.objects.create(name=f"other-{uuid.uuid4().hex[:6]}")
    everything = Webhook.objects.create(name="everything", url=url)
    payments = Webhook.objects.create(name="payments", url=url, queue=pending.queue)
    requested_only = Webhook.objects.create(name="requested", url=url, events=["approval.requested"])
    elsewhere = Webhook.objects.create(name="elsewhere", url=url, queue=other_queue)
    breaches_only = Webhook.objects.create(name="breaches", url=url, events=["approval.sla_breached"])
    inactive = Webhook.objects.create(name="inactive", url=url, is_active=False)

    def counts() -> dict[str, int]:
        hooks = [everything, payments, requested_only, elsewhere, breaches_only, inactive]
        return {h.name: WebhookDelivery.objects.filter(webhook=h).count() for h in hooks}

    notifications.notify("approval.requested", pending)
    assert counts() == {"everything": 1, "payments": 1, "requested": 1, "elsewhere": 0, "breaches": 0, "inactive": 0}

    notifications.notify("approval.sla_breached", pending)
    assert counts() == {"everything": 2, "payments": 2, "requested": 1, "elsewhere": 0, "breaches": 1, "inactive": 0}
    assert WebhookDelivery.objects.filter(webhook=breaches_only).get().event == "approval.sla_breached"


def test_notify_never_raises(pending: ApprovalRequest, receiver: Any, monkeypatch: Any, caplog: Any) -> None:
    """After commit there is no one to catch an error: notify logs it and returns."""
    Webhook.objects.create(name="ops", url=receiver().url)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(WebhookDelivery.objects, "bulk_create", broken)
    with caplog.at_level(logging.ERROR, logger="approvals.notifications"):
        notifications.notify("approval.requested", pending)
        notifications.notify("approval.unknown", pending)
    assert "database went away" in caplog.text
    assert "unknown event" in caplog.text
    assert not WebhookDelivery.objects.exists()


@override_settings(STEWARD_WEBHOOK_BACKOFF_SECONDS=0.05)
def test_a_real_worker_delivers_and_retries(pending: ApprovalRequest, receiver: Any, celery_worker: Any) -> None:
    """notify → broker → worker → receiver, with one retry through the broker's countdown."""
    r = receiver(script=[500])
    hook = Webhook.objects.create(name="ops", url=r.url, secret=SECRET)

    notifications.notify("approval.requested", pending)

    delivery = wait_for(lambda: WebhookDelivery.objects.filter(webhook=hook, status="delivered").first(), timeout=30)
    assert delivery.attempts == 2 and delivery.last_status_code == 200
    assert len(r.received) == 2
    assert all(s["headers"]["X-Steward-Signature"] == _signed(s["body"]) for s in r.received)


@pytest.mark.django_db(transaction=True)
def test_a_delivery_whose_message_was_lost_is_sent_again(purge_broker: None) -> None:
    """A pending delivery long past its due time goes back to the broker; a fresh one does not."""
    from datetime import timedelta

    from django.utils import timezone

    from approvals.models import Webhook, WebhookDelivery
    from approvals.webhooks import resend_overdue
    from console.celery import app

    hook = Webhook.objects.create(name="lost", url="http://127.0.0.1:9/")
    now = timezone.now()
    lost = WebhookDelivery.objects.create(webhook=hook, event="approval.requested", payload={}, next_attempt_at=now - timedelta(minutes=5))
    WebhookDelivery.objects.create(webhook=hook, event="approval.requested", payload={}, next_attempt_at=now)
    assert resend_overdue(now) == 1
    lost.refresh_from_db()
    assert lost.next_attempt_at == now
    with app.connection_for_read() as conn:
        queue = conn.SimpleQueue("steward", no_ack=True)
        message = queue.get(timeout=5)
        assert str(lost.id) in str(message.payload) or str(lost.id) in str(message.headers.get("argsrepr"))
        queue.close()
    assert resend_overdue(now) == 0
