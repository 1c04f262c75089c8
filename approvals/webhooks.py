"""Outgoing webhook deliveries: the signed body, one HTTP attempt, and the backoff between attempts.

The delivery row is the delivery log: every attempt updates its `attempts`, `last_status_code`,
`last_error` (Steward's short reason, never the receiver's answer), `next_attempt_at` and finally
`status`. Every attempt goes through the outbound check (console/kernel/outbound.py): a URL that
reaches an internal address fails at once, without connecting. The Celery task
(`deliver_webhook`, below) only calls `deliver()` and schedules the retry it asks for,
so a test (or a shell) can run the same loop synchronously.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from approvals.models import WebhookDelivery
from console.kernel import outbound

__all__ = ["attempt_delivery", "backoff_seconds", "body_of", "deliver", "signature"]

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 5
SIGNATURE_HEADER = "X-Steward-Signature"


def body_of(payload: Any) -> bytes:
    """The exact bytes sent and signed for a stored payload.

    The payload is stored as JSON (Postgres may reorder its keys), so the body is derived from it
    the same way at every attempt: sorted keys, compact, UTF-8.

    Args:
        payload: the delivery's stored payload.

    Returns:
        The request body.
    """
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str, body: bytes) -> str:
    """The `X-Steward-Signature` value: `sha256=<hex HMAC-SHA256 of the body with the secret>`.

    Args:
        secret: the webhook's secret.
        body: the request body, byte for byte.

    Returns:
        The header value.
    """
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff_seconds(attempts: int) -> float:
    """Seconds to wait before the next attempt, after `attempts` failed ones (exponential).

    Args:
        attempts: how many attempts have been made (1 after the first).

    Returns:
        STEWARD_WEBHOOK_BACKOFF_SECONDS * 2 ** (attempts - 1).
    """
    return float(settings.STEWARD_WEBHOOK_BACKOFF_SECONDS) * 2 ** max(attempts - 1, 0)


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str, bool]:
    """POST once through the outbound check.

    Returns (status code or None when no answer came, a short reason or "", refused): refused
    means the URL reaches an address Steward does not send to, which no retry will change.
    """
    try:
        checked = outbound.check_url(url)
    except outbound.OutboundRefused as exc:
        return None, f"refused: {exc}", True
    except outbound.HostNotFound as exc:
        return None, str(exc), False
    result = outbound.post_json(checked, body, headers, timeout=TIMEOUT_SECONDS)
    return result.status, result.reason, False


def attempt_delivery(delivery: WebhookDelivery) -> bool:
    """Make one attempt at a pending delivery and record it on the row.

    Args:
        delivery: a delivery with its webhook; updated in place.

    Returns:
        True if the receiver answered 2xx (the delivery is `delivered`); False otherwise (it is
        `failed` once STEWARD_WEBHOOK_MAX_ATTEMPTS attempts have failed, else still `pending`).
    """
    return _attempt(delivery) == _DELIVERED


_DELIVERED, _RETRY, _DONE, _SKIPPED = "delivered", "retry", "done", "skipped"


def _attempt(delivery: WebhookDelivery) -> str:
    """One attempt; says what is left to do: nothing (delivered/done), a retry, or nothing
    because another worker made this attempt (skipped)."""
    # Take the attempt number with a conditional update first, so two workers holding the same
    # message (a redelivery after a lost ack) never make the same attempt twice.
    claimed = WebhookDelivery.objects.filter(
        id=delivery.id, status=WebhookDelivery.Status.PENDING, attempts=delivery.attempts
    ).update(attempts=F("attempts") + 1)
    if not claimed:
        delivery.refresh_from_db()
        log.info("webhook delivery %s: attempt made elsewhere (%s)", delivery.id, delivery.status)
        return _DELIVERED if delivery.status == WebhookDelivery.Status.DELIVERED else _SKIPPED
    delivery.attempts += 1

    webhook = delivery.webhook
    body = body_of(delivery.payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Steward-Webhooks/1",
        SIGNATURE_HEADER: signature(webhook.secret, body),
        "X-Steward-Event": delivery.event,
        "X-Steward-Delivery": str(delivery.id),
    }
    code, error, refused = _post(webhook.url, body, headers)
    now = timezone.now()
    delivery.last_status_code = code
    if code is not None and 200 <= code < 300:
        delivery.status = WebhookDelivery.Status.DELIVERED
        delivery.delivered_at = now
        delivery.last_error = ""
        delivery.next_attempt_at = None
        outcome = _DELIVERED
    else:
        delivery.last_error = error or f"HTTP {code}"
        if refused or delivery.attempts >= settings.STEWARD_WEBHOOK_MAX_ATTEMPTS:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.next_attempt_at = None
            outcome = _DONE
        else:
            delivery.next_attempt_at = now + timedelta(seconds=backoff_seconds(delivery.attempts))
            outcome = _RETRY
    delivery.save(update_fields=["status", "last_status_code", "last_error", "next_attempt_at", "delivered_at"])
    log.log(
        logging.INFO if outcome == _DELIVERED else logging.WARNING,
        "webhook %r %s attempt %d: %s",
        webhook.name,
        delivery.event,
        delivery.attempts,
        delivery.last_error or delivery.status,
    )
    return outcome


def deliver(delivery_id: uuid.UUID | str) -> float | None:
    """One attempt at a delivery, by id; what the Celery task runs.

    Args:
        delivery_id: the WebhookDelivery's id.

    Returns:
        Seconds until the next attempt if this one failed and attempts remain; None when there is
        nothing more to do (delivered, failed for good, already settled, or no such delivery).
    """
    delivery = (
        WebhookDelivery.objects.select_related("webhook")
        .filter(id=delivery_id, status=WebhookDelivery.Status.PENDING)
        .first()
    )
    if delivery is None:
        # Settled meanwhile, or its webhook was deleted: nothing to send.
        return None
    if _attempt(delivery) != _RETRY:
        return None
    return backoff_seconds(delivery.attempts)


# A delivery whose attempt is this late has lost its Celery message (a broker restart): send again.
RESEND_GRACE = timedelta(seconds=60)


def resend_overdue(now: Any = None, batch: int = 200) -> int:
    """Re-send deliveries still pending well after their next attempt was due.

    The delivery row is the record, a Celery message only wakes a worker (as for runs): a lost
    message delays a webhook, never loses it.
    """

    now = now or timezone.now()
    overdue = list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lt=now - RESEND_GRACE
        ).values_list("id", flat=True)[:batch]
    )
    if overdue:
        # Push the due time on, so the next sweep does not send them again at once.
        WebhookDelivery.objects.filter(id__in=overdue).update(next_attempt_at=now)
        for delivery_id in overdue:
            deliver_webhook.apply_async(args=(str(delivery_id),))
    return len(overdue)


# max_retries=None: the delivery row counts attempts (STEWARD_WEBHOOK_MAX_ATTEMPTS), not Celery.
@shared_task(
    name="approvals.deliver_webhook",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    max_retries=None,
)
def deliver_webhook(self: Any, delivery_id: str) -> None:
    """One attempt at a webhook delivery; a failed one is retried with exponential backoff.

    Run eagerly (`deliver_webhook.apply(...)`), Celery makes the retries at once, in-process.
    """
    countdown = deliver(delivery_id)
    if countdown is not None:
        raise self.retry(countdown=countdown)
