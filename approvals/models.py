"""Queues, approval requests, decisions (votes) and the audit log."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.utils import timezone

from console.roles import is_admin


class Queue(models.Model):
    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    reviewer_groups = models.ManyToManyField(Group, blank=True, related_name="approval_queues")
    required_approvals = models.PositiveSmallIntegerField(default=1)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def is_reviewer(self, user: Any) -> bool:
        if is_admin(user):
            return True
        return self.reviewer_groups.filter(user=user).exists()


class ApprovalRequestQuerySet(models.QuerySet["ApprovalRequest"]):
    def visible_to(self, user: Any) -> ApprovalRequestQuerySet:
        if is_admin(user):
            return self
        return self.filter(queue__reviewer_groups__user=user).distinct()

    def pending(self) -> ApprovalRequestQuerySet:
        return self.filter(status=ApprovalRequest.Status.PENDING)


class ApprovalRequest(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"
        EXPIRED = "expired"
        CANCELLED = "cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="requests")
    run = models.ForeignKey(
        "agents.Run", null=True, blank=True, on_delete=models.CASCADE, related_name="approval_requests"
    )
    interrupt_id = models.CharField(max_length=64, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    proposed_args = models.JSONField(default=dict)
    args_schema = models.JSONField(default=dict, blank=True)
    tool_call_id = models.CharField(max_length=200, blank=True)
    condition = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    approved_args = models.JSONField(null=True, blank=True)
    approved_args_hash = models.CharField(max_length=64, blank=True)
    resume_value = models.JSONField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ApprovalRequestQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["status", "queue", "created_at"], name="approval_status_queue"),
            models.Index(fields=["status", "created_at"], name="approval_status_created"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "interrupt_id"],
                condition=models.Q(run__isnull=False),
                name="approval_one_per_interrupt",
            )
        ]

    def __str__(self) -> str:
        return f"{self.action} ({self.status})"

    def settle(self, status: str, user: Any, resume_value: dict[str, Any], approved_args: Any) -> bool:
        """Set the outcome once: a conditional update, so of two deciders only one wins."""
        from approvals.gate import args_hash

        now = timezone.now()
        updates: dict[str, Any] = {
            "status": status,
            "decided_by": user,
            "decided_at": now,
            "resume_value": resume_value,
            "approved_args": approved_args,
            "approved_args_hash": args_hash(approved_args) if approved_args is not None else "",
        }
        won = ApprovalRequest.objects.filter(id=self.id, status=self.Status.PENDING).update(**updates)
        if won:
            for field, value in updates.items():
                setattr(self, field, value)
        return bool(won)


class Decision(models.Model):
    """One reviewer's vote on a request; the request's outcome is set separately, once."""

    class Kind(models.TextChoices):
        APPROVE = "approve"
        REJECT = "reject"
        EDIT = "edit"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="decisions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=8, choices=Kind.choices)
    args = models.JSONField(null=True, blank=True)
    comment = models.TextField(blank=True)
    reason_code = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["request", "user"], name="decision_one_per_reviewer")]

    def __str__(self) -> str:
        return f"{self.decision} by {self.user_id}"


class AuditEvent(models.Model):
    """Append-only record of every decision and change a person or rule makes."""

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=100)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=100)
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object")]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id}"
