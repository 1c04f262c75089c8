"""Celery tasks for approvals: thin, named, ids only."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="approvals.enforce_sla", ignore_result=True)
def enforce_sla() -> dict[str, int]:
    # Imported here: services and webhooks send these tasks (an import cycle otherwise).
    from approvals.services import enforce_sla as apply_rules
    from approvals.webhooks import resend_overdue

    counts = apply_rules()
    counts["webhooks_resent"] = resend_overdue()
    return counts


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
    # Imported here: webhooks send this task (an import cycle otherwise).
    from approvals.webhooks import deliver

    countdown = deliver(delivery_id)
    if countdown is not None:
        raise self.retry(countdown=countdown)
