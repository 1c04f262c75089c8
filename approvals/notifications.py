"""Notifications for approval events: signed webhooks (JSON or Slack), email with one-time links.

Being written: `notify()` is the entry point the services call after commit.
"""

from __future__ import annotations

from approvals.models import ApprovalRequest

EVENTS = ("approval.requested", "approval.sla_breached", "approval.escalated")


def notify(event: str, request: ApprovalRequest) -> None:
    """Send `event` about `request` to every matching webhook and to the queue's reviewers."""
    return None
