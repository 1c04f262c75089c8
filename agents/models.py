"""Agents, runs, the idempotency ledger and the demo's refunds table."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from console.redaction import redact, redact_text


class Agent(models.Model):
    """The database side of a registered agent: its settings, limits and current fingerprint."""

    key = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    input_schema = models.JSONField(default=dict, blank=True)
    example_input = models.JSONField(default=dict, blank=True)
    fingerprint = models.CharField(max_length=64, blank=True)
    settings = models.JSONField(default=dict, blank=True)
    is_registered = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


class RunQuerySet(models.QuerySet["Run"]):
    def visible_to(self, user: Any) -> RunQuerySet:
        # Every console role may read runs; reviewers need them to judge an action.
        return self


class Run(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        WAITING = "waiting"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    ACTIVE = (Status.QUEUED, Status.RUNNING, Status.WAITING)
    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="runs")
    thread_id = models.CharField(max_length=100)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    input = models.JSONField(default=dict)
    output = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    error_traceback = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    graph_fingerprint = models.CharField(max_length=64, blank=True)
    # Prompt versions pinned when the run started: {name: {"version": n, "id": pk, "label": ...}}.
    prompt_versions = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    parent_run = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replays"
    )
    root_run = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The claim: one worker at a time holds the lease; attempts count claims since the run
    # last made progress a person asked for (start or resume).
    attempts = models.PositiveIntegerField(default=0)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Totals, written when the run stops (waiting or finished) so lists need no aggregate.
    steps = models.PositiveIntegerField(default=0)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost = models.FloatField(default=0.0)
    latency_ms = models.FloatField(default=0.0)
    # Retention (traces/retention.py) deleted the run's spans and checkpoints at this time, under
    # a retention of this many days; the row and its totals stay.
    pruned_at = models.DateTimeField(null=True, blank=True)
    pruned_after_days = models.PositiveIntegerField(null=True, blank=True)
    # Limits (agents/limits.py): the effective ones, fixed when the run was created (a reviewer
    # may raise one when the run pauses over it); each breach and what became of it; and the
    # seconds workers have spent on the run (waiting for a person or a worker does not count).
    limits = models.JSONField(default=dict, blank=True)
    limit_breaches = models.JSONField(default=list, blank=True)
    active_seconds = models.FloatField(default=0.0)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="run_created"),
            models.Index(fields=["status", "-created_at"], name="run_status_created"),
            models.Index(fields=["agent", "-created_at"], name="run_agent_created"),
            models.Index(fields=["status", "enqueued_at"], name="run_status_enqueued"),
            models.Index(fields=["thread_id", "created_at"], name="run_thread"),
            # Recently finished runs (the OpenTelemetry export's retry looks at the last hour's).
            models.Index(fields=["finished_at"], name="run_finished", condition=models.Q(finished_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.agent_id}:{self.id}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def root_id(self) -> uuid.UUID:
        return self.root_run_id or self.id

    # --- state changes: each is one conditional UPDATE, so two actors never both win -------

    @classmethod
    def claim(cls, run_id: uuid.UUID | str, owner: str, now: datetime | None = None) -> Run | None:
        """Take the run `queued -> running` with a fresh lease; None if someone else has it."""
        now = now or timezone.now()
        claimed = cls.objects.filter(id=run_id, status=cls.Status.QUEUED).update(
            status=cls.Status.RUNNING,
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=settings.STEWARD_LEASE_SECONDS),
            attempts=F("attempts") + 1,
            started_at=Coalesce(F("started_at"), models.Value(now)),
        )
        if not claimed:
            return None
        return cls.objects.select_related("agent").get(id=run_id)

    def _held(self) -> models.QuerySet[Run]:
        return Run.objects.filter(id=self.id, status=self.Status.RUNNING, lease_owner=self.lease_owner)

    def mark_waiting(self, totals: dict[str, Any]) -> bool:
        return bool(
            self._held().update(status=self.Status.WAITING, lease_owner="", lease_expires_at=None, **totals)
        )

    def mark_succeeded(self, output: Any, totals: dict[str, Any]) -> bool:
        return bool(
            self._held().update(
                status=self.Status.SUCCEEDED,
                # Shown on pages, the API and exports: stored redacted (console/redaction.py).
                output=redact(output),
                finished_at=timezone.now(),
                lease_owner="",
                lease_expires_at=None,
                **totals,
            )
        )

    def mark_failed(self, error: str, traceback: str, totals: dict[str, Any]) -> bool:
        return bool(
            self._held().update(
                status=self.Status.FAILED,
                error=redact_text(error),
                error_traceback=redact_text(traceback),
                finished_at=timezone.now(),
                lease_owner="",
                lease_expires_at=None,
                **totals,
            )
        )

    def fail_waiting(self, error: str) -> bool:
        """End a waiting run as failed (its pause over a limit was refused)."""
        return bool(
            Run.objects.filter(id=self.id, status=self.Status.WAITING).update(
                status=self.Status.FAILED, error=redact_text(error), finished_at=timezone.now()
            )
        )

    @classmethod
    def requeue(cls, run_id: uuid.UUID, from_status: str, now: datetime | None = None) -> bool:
        """Move a run back to `queued` (after a decision, or an expired lease); the caller sends it."""
        now = now or timezone.now()
        updates: dict[str, Any] = {
            "status": cls.Status.QUEUED,
            "lease_owner": "",
            "lease_expires_at": None,
            "enqueued_at": now,
        }
        if from_status == cls.Status.WAITING:
            updates["attempts"] = 0
        query = cls.objects.filter(id=run_id, status=from_status)
        if from_status == cls.Status.RUNNING:
            query = query.filter(lease_expires_at__lt=now)
        return bool(query.update(**updates))

    @classmethod
    def fail_abandoned(cls, run_id: uuid.UUID, error: str, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return bool(
            cls.objects.filter(id=run_id, status=cls.Status.RUNNING, lease_expires_at__lt=now).update(
                status=cls.Status.FAILED,
                error=error,
                finished_at=now,
                lease_owner="",
                lease_expires_at=None,
            )
        )

    def cancel(self) -> bool:
        return bool(
            Run.objects.filter(id=self.id, status__in=self.ACTIVE).update(
                status=self.Status.CANCELLED, finished_at=timezone.now(), lease_owner="", lease_expires_at=None
            )
        )


class IdempotencyRecord(models.Model):
    """One row per side effect: its key is unique, its result is what every repeat returns."""

    key = models.CharField(max_length=255, unique=True)
    action = models.CharField(max_length=200)
    args_hash = models.CharField(max_length=64)
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    result = models.JSONField(null=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.key


class Refund(models.Model):
    """The demo's business table: refunds the `refund` agent has issued."""

    order_id = models.CharField(max_length=64)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    approval_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["order_id"], name="refund_once_per_order")]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.amount}"


# The prompt tables live in their own module; importing them here registers them with the app.
from agents.prompt_models import (  # noqa: E402, F401
    Prompt,
    PromptLabel,
    PromptLabelMove,
    PromptVersion,
    RunPromptVersion,
)
