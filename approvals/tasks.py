"""Celery tasks for approvals: thin, named, ids only. A webhook delivery's task lives beside the
delivery code it runs (approvals/webhooks.py), which sends it; it is re-exported here so that
Celery's autodiscovery and `approvals.tasks.deliver_webhook` find it."""

from __future__ import annotations

from celery import shared_task

from approvals.services import enforce_sla as apply_rules
from approvals.webhooks import deliver_webhook, resend_overdue

__all__ = ["deliver_webhook", "enforce_sla"]


@shared_task(name="approvals.enforce_sla", ignore_result=True)
def enforce_sla() -> dict[str, int]:
    counts = apply_rules()
    counts["webhooks_resent"] = resend_overdue()
    return counts
