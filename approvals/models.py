"""Queues, approval requests, decisions (votes), notifications and the audit log."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.utils import timezone

from agents.engine.interrupts import InterruptShape
from agents.engine.ledger import args_hash

# The audit log's table belongs to this app; its model lives in the kernel.
from console.kernel.models import AuditEvent  # noqa: F401
from console.kernel.redaction import redact_text, redacted
from console.kernel.roles import is_admin
from console.kernel.sealing import open_json, seal_json

DEFAULT_REASON_CODES = ["policy", "incorrect", "suspicious", "duplicate", "other"]


def default_reason_codes() -> list[str]:
    return list(DEFAULT_REASON_CODES)


class Queue(models.Model):
    class TimeoutAction(models.TextChoices):
        WAIT = "wait", "keep waiting"
        ESCALATE = "escalate", "escalate to the escalation queue"
        APPROVE = "approve", "approve automatically"
        REJECT = "reject", "reject automatically"

    class RequesterMayAnswer(models.TextChoices):
        # By the interrupt's shape (agents/engine/interrupts.py `asks_a_question`): a question to
        # the person who started the run, yes; an action to approve or edit, no (four-eyes).
        DEFAULT = "default", "questions only (free-form answers and respond-only requests)"
        ALWAYS = "always", "always, approvals of its actions too"
        NEVER = "never", "never, questions too"

    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    reviewer_groups = models.ManyToManyField(Group, blank=True, related_name="approval_queues")
    # Separation of duties: members of these groups may not decide in this queue.
    excluded_groups = models.ManyToManyField(Group, blank=True, related_name="excluded_from_queues")
    # Quorum: this many approvals from distinct reviewers; any rejection ends the request.
    required_approvals = models.PositiveSmallIntegerField(default=1)
    sla_minutes = models.PositiveIntegerField(default=24 * 60, help_text="A request is due this long after it arrives")
    claim_minutes = models.PositiveIntegerField(default=15, help_text="How long a claim holds a request")
    reason_codes = models.JSONField(default=default_reason_codes, blank=True)
    timeout_action = models.CharField(max_length=16, choices=TimeoutAction.choices, default=TimeoutAction.WAIT)
    escalation_queue = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="escalations_from"
    )
    # Whether the run's requester may answer this queue's requests of their run.
    requester_may_answer = models.CharField(
        max_length=8, choices=RequesterMayAnswer.choices, default=RequesterMayAnswer.DEFAULT
    )

    # Not a column: set by queue_views.queue_list for its page (the SLA in words).
    sla_text: str

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def is_reviewer(self, user: Any) -> bool:
        if is_admin(user):
            return True
        return self.reviewer_groups.filter(user=user).exists()

    def excludes(self, user: Any) -> bool:
        return self.excluded_groups.filter(user=user).exists()

    def lets_requester_answer(self, shape: InterruptShape) -> bool:
        """Whether the run's requester may answer a request of this shape in this queue."""
        return shape.asks_a_question in REQUESTER_ANSWERS[self.requester_may_answer]


# The rule of `requester_may_answer`, by the queue's setting: whether the run's requester may
# answer a question (True) or an action (False; `InterruptShape.asks_a_question`). Read by
# `Queue.lets_requester_answer` for one request and by `ApprovalRequestQuerySet.put_to` in SQL.
REQUESTER_ANSWERS: dict[str, tuple[bool, ...]] = {
    Queue.RequesterMayAnswer.ALWAYS: (True, False),
    Queue.RequesterMayAnswer.DEFAULT: (True,),
    Queue.RequesterMayAnswer.NEVER: (),
}


class ApprovalRequestQuerySet(models.QuerySet["ApprovalRequest"]):
    def visible_to(self, user: Any) -> ApprovalRequestQuerySet:
        if is_admin(user):
            return self
        # The user's queues read first and compared as constants: as a subquery they made every
        # query of the inbox and the pane plan four more relations (7-11 ms of planning each, more
        # than the query took to run). A handful of ids, no duplicates to remove from the list.
        through = Queue.reviewer_groups.through.objects
        queues = list(through.filter(group__user=user).values_list("queue_id", flat=True).distinct())
        return self.filter(queue_id__in=queues)

    def put_to(self, user: Any) -> ApprovalRequestQuerySet:
        """The requests `user` may answer as their run's requester, as deciding checks it
        (approvals/services.py `_check_may_decide`): `ApprovalRequest.is_put_to` as a query (the
        queue's setting by the request's `asks_a_question`), in a queue that does not exclude them."""
        if not getattr(user, "pk", None):
            return self.none()
        allowed = models.Q(pk__in=[])
        for setting, questions in REQUESTER_ANSWERS.items():
            if questions:
                allowed |= models.Q(queue__requester_may_answer=setting, asks_a_question__in=questions)
        return self.filter(allowed, requested_by=user.pk, run__isnull=False).not_excluding(user)

    def not_excluding(self, user: Any) -> ApprovalRequestQuerySet:
        """The requests whose queue does not exclude `user` (separation of duties, `Queue.excludes`)."""
        return self.exclude(queue__excluded_groups__user=user.pk)

    def pending(self) -> ApprovalRequestQuerySet:
        return self.filter(status=ApprovalRequest.Status.PENDING)

    def unclaimed(self, now: datetime) -> ApprovalRequestQuerySet:
        return self.filter(models.Q(claimed_until__isnull=True) | models.Q(claimed_until__lte=now))


class ApprovalRequest(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"
        EXPIRED = "expired"
        CANCELLED = "cancelled"
        # The reviewer sent a message back instead of deciding; the agent may propose again.
        RESPONDED = "responded"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="requests")
    run = models.ForeignKey(
        "agents.Run", null=True, blank=True, on_delete=models.CASCADE, related_name="approval_requests"
    )
    interrupt_id = models.CharField(max_length=64, blank=True)
    # The run's agent, copied when the request is made: the inbox filters pending requests by agent
    # with its own index instead of going through every run of that agent.
    agent = models.ForeignKey("agents.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
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
    approvals = models.PositiveSmallIntegerField(default=0)
    approved_args = models.JSONField(null=True, blank=True)
    approved_args_hash = models.CharField(max_length=64, blank=True)
    resume_value = models.JSONField(null=True, blank=True)
    # The exact resume value and approved arguments, sealed (console/kernel/sealing.py) when
    # redaction changed them: the two columns above hold the redacted copies people read.
    sealed = models.BinaryField(null=True, blank=True, editable=False)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    # Set when a rule, not a person, settled it (a condition, a timeout's default action).
    decided_automatically_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claimed_until = models.DateTimeField(null=True, blank=True)
    escalation_count = models.PositiveSmallIntegerField(default=0)
    breach_notified_at = models.DateTimeField(null=True, blank=True)
    # A prompt promotion's regression replays (agents/prompt_admin/regression.py): one entry per batch,
    # {"batch", "version", "limit", "runs", "by", "at"}. Beside the request, never part of what is decided.
    regression_batches = models.JSONField(default=list, blank=True)
    # The interrupt value's shape (agents/engine/interrupts.py `InterruptShape.as_json`): its kind,
    # its actions with the decisions each allows, a free-form value. Empty for Steward's own gate.
    interrupt_shape = models.JSONField(default=dict, blank=True)
    # `InterruptShape.asks_a_question` of `interrupt_shape`, set by `save`: what lets the inbox
    # list the questions put to a run's requester in SQL (`ApprovalRequestQuerySet.put_to`).
    asks_a_question = models.BooleanField(default=False, editable=False)
    # The agent's error when it last refused the answer it was resumed with (the node that called
    # interrupt() raised on it): the request went back to pending, and the reviewer reads why.
    last_resume_error = models.TextField(blank=True)
    resume_refused_at = models.DateTimeField(null=True, blank=True)

    objects = ApprovalRequestQuerySet.as_manager()

    # Not a column: the request's decisions, set by approvals/services.py `decide` when it knows
    # them without a query (the request had none before its own); None when not known.
    decisions_known: list[Decision] | None = None

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["status", "queue", "created_at", "id"], name="approval_status_queue"),
            models.Index(fields=["status", "created_at", "id"], name="approval_status_created"),
            models.Index(fields=["status", "due_at"], name="approval_status_due"),
            models.Index(fields=["run", "status"], name="approval_run_status"),
            # The inbox's keyset (approvals/inbox.py) in one queue: pending requests in (due_at,
            # created_at, id) order. In all the reviewer's queues `approval_status_due` serves it.
            models.Index(
                fields=["queue", "due_at", "created_at", "id"], condition=models.Q(status="pending"),
                name="approval_pending_queue_due",
            ),
            models.Index(
                fields=["agent", "due_at", "created_at", "id"], condition=models.Q(status="pending"),
                name="approval_pending_agent_due",
            ),
            # The inbox's "Asked of you": a requester's pending requests in the same order.
            models.Index(
                fields=["requested_by", "due_at", "created_at", "id"], condition=models.Q(status="pending"),
                name="approval_pending_requester_due",
            ),
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

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.due_at is None and self.queue_id:
            self.due_at = self.created_at + timedelta(minutes=self.queue.sla_minutes)
        if self.agent_id is None and self.run is not None:
            self.agent_id = self.run.agent_id
        self.asks_a_question = self.shape.asks_a_question
        super().save(*args, **kwargs)

    @property
    def shape(self) -> InterruptShape:
        """The interrupt's shape: what the reviewer sees and which answers it takes."""
        return InterruptShape.from_json(self.interrupt_shape)

    @property
    def requester_may_answer(self) -> bool:
        """Whether the run's requester may answer this request (its queue's setting, by the
        interrupt's shape). Only a run's requests: a prompt promotion's requester never decides it."""
        return self.run_id is not None and self.queue.lets_requester_answer(self.shape)

    def is_put_to(self, user: Any) -> bool:
        """`user` started the run and may answer this request (see `requester_may_answer`)."""
        return self.requested_by_id is not None and self.requested_by_id == user.pk and self.requester_may_answer

    @property
    def current_holder(self) -> Any:
        """Who holds the request right now (an expired claim holds nothing)."""
        if self.claimed_by_id and self.claimed_until and self.claimed_until > timezone.now():
            return self.claimed_by
        return None

    @property
    def is_overdue(self) -> bool:
        return self.status == self.Status.PENDING and self.due_at is not None and self.due_at < timezone.now()

    def held_by_other(self, user: Any, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return bool(
            self.claimed_by_id and self.claimed_until and self.claimed_until > now and self.claimed_by_id != user.pk
        )

    def settle(
        self,
        status: str,
        user: Any,
        resume_value: Any,
        approved_args: Any,
        automatic_rule: str = "",
        approvals: int | None = None,
    ) -> bool:
        """Set the outcome once: a conditional update, so of two deciders only one wins.
        `approvals`, the quorum's count when this approval reached it, goes in the same update.

        The resume value and approved arguments are stored redacted (a reviewer's comment and
        edits may hold secrets); when redaction changed them the exact ones are sealed, for the
        run (`exact_resume_value`) and the gate (the hash is of the exact arguments)."""

        now = timezone.now()
        exact = {"resume_value": resume_value, "approved_args": approved_args}
        clean, changed = redacted(exact)
        updates: dict[str, Any] = {
            "status": status,
            "decided_by": user if getattr(user, "pk", None) else None,
            "decided_at": now,
            "resume_value": clean["resume_value"],
            "approved_args": clean["approved_args"],
            "sealed": seal_json(exact, _sealing_context("request", self.id)) if changed else None,
            "approved_args_hash": args_hash(approved_args) if approved_args is not None else "",
            "decided_automatically_by": automatic_rule,
            "claimed_by": None,
            "claimed_until": None,
        }
        if approvals is not None:
            updates["approvals"] = approvals
        won = ApprovalRequest.objects.filter(id=self.id, status=self.Status.PENDING).update(**updates)
        if won:
            for field, value in updates.items():
                setattr(self, field, value)
        return bool(won)

    def _exact(self) -> dict[str, Any]:
        """Raises: console.kernel.sealing.SealError (sealed with a key this Steward no longer has)."""
        if self.sealed is None:
            return {"resume_value": self.resume_value, "approved_args": self.approved_args}
        opened: dict[str, Any] = open_json(self.sealed, _sealing_context("request", self.id))
        return opened

    def exact_resume_value(self) -> Any:
        """The resume value as decided, comment and arguments as typed: what the run resumes with."""
        return self._exact()["resume_value"]

    def exact_approved_args(self) -> Any:
        """The approved arguments as approved (the stored ones are redacted for display)."""
        return self._exact()["approved_args"]

    def reopen_after_refusal(self, error: str) -> bool:
        """Back to pending because the agent refused the answer it was resumed with (`error`, the
        agent's own message, kept redacted for the reviewer). The decision's outcome is cleared
        and its votes are set aside (`Decision.superseded_at`): reviewers answer afresh, those who
        answered included. A conditional update: only a request that was answered reopens."""
        now = timezone.now()
        updates: dict[str, Any] = {
            "status": self.Status.PENDING,
            "decided_by": None,
            "decided_at": None,
            "resume_value": None,
            "approved_args": None,
            "sealed": None,
            "approved_args_hash": "",
            "decided_automatically_by": "",
            "approvals": 0,
            "last_resume_error": redact_text(error)[:4000],
            "resume_refused_at": now,
            # A fresh SLA: the old due time has passed when a timeout answered, and the queue's
            # timeout rule would answer the same way again every sweep, forever.
            "due_at": now + timedelta(minutes=self.queue.sla_minutes),
            "breach_notified_at": None,
        }
        answered = [self.Status.APPROVED, self.Status.REJECTED, self.Status.RESPONDED]
        won = ApprovalRequest.objects.filter(id=self.id, status__in=answered).update(**updates)
        if won:
            Decision.objects.filter(request_id=self.id, superseded_at__isnull=True).update(superseded_at=now)
            # Links mailed for the refused round would decide without showing the agent's error.
            ActionLink.objects.filter(request_id=self.id, used_at__isnull=True).update(expires_at=now)
            for field, value in updates.items():
                setattr(self, field, value)
        return bool(won)

    def cancel(self) -> bool:
        """Cancel it if still pending (its run ended): a conditional update, like `settle`."""
        won = ApprovalRequest.objects.filter(id=self.id, status=self.Status.PENDING).update(
            status=self.Status.CANCELLED, claimed_by=None, claimed_until=None
        )
        if won:
            self.status = self.Status.CANCELLED
        return bool(won)

    # --- changes made under the row's lock (the caller holds it: select_for_update) -----------

    def count_approvals(self, votes: int) -> None:
        """The number of reviewers who approved so far (toward the queue's quorum)."""
        ApprovalRequest.objects.filter(id=self.id).update(approvals=votes)
        self.approvals = votes

    def claim_for(self, user: Any, now: datetime) -> None:
        """Hold the request for `user` for the queue's claim time."""
        self.claimed_by = user
        self.claimed_until = now + timedelta(minutes=self.queue.claim_minutes)
        self.save(update_fields=["claimed_by", "claimed_until"])

    def release_claim(self) -> None:
        self.claimed_by, self.claimed_until = None, None
        self.save(update_fields=["claimed_by", "claimed_until"])

    def move_to(self, queue: Queue) -> None:
        """Reassign to another queue; whoever held it holds it no longer."""
        self.queue = queue
        self.claimed_by, self.claimed_until = None, None
        self.save(update_fields=["queue", "claimed_by", "claimed_until"])

    def mark_breach_notified(self, now: datetime) -> None:
        """Its SLA breach was announced (once per queue it is due in)."""
        self.breach_notified_at = now
        self.save(update_fields=["breach_notified_at"])

    def escalate_to(self, queue: Queue, now: datetime) -> None:
        """Move it up to `queue` when overdue: due again after that queue's SLA, unclaimed."""
        self.queue = queue
        self.escalation_count += 1
        self.due_at = now + timedelta(minutes=queue.sla_minutes)
        self.breach_notified_at = None
        self.claimed_by, self.claimed_until = None, None
        self.save(update_fields=["queue", "escalation_count", "due_at", "breach_notified_at", "claimed_by", "claimed_until"])

    def add_regression_batch(self, entry: dict[str, Any]) -> None:
        """Record a prompt promotion's regression replay batch, keeping the batches another
        reviewer added meanwhile (locks the row: call inside a transaction)."""
        locked = ApprovalRequest.objects.select_for_update().only("id", "regression_batches").get(id=self.id)
        batches = [*(locked.regression_batches or []), entry]
        ApprovalRequest.objects.filter(id=self.id).update(regression_batches=batches)
        self.regression_batches = batches


def _sealing_context(kind: str, row_id: uuid.UUID) -> bytes:
    # Binds a sealed value to its row: copied onto another row, it does not open.
    return f"approvals.{kind}:".encode() + row_id.bytes


class Decision(models.Model):
    """One vote on a request (a person's, or a rule's); the request's outcome is set separately, once.

    What the reviewer typed is stored redacted (console/kernel/redaction.py), like a run's input:
    the comment, the edited and approved arguments, the diff. When redaction changed the
    arguments or the comment, the exact ones are sealed in `sealed` (`exact`), for a quorum's
    last edit to run as typed."""

    class Kind(models.TextChoices):
        APPROVE = "approve"
        REJECT = "reject"
        EDIT = "edit"
        RESPOND = "respond"
        # A free-form interrupt's answer (any JSON value, kept in `args`).
        ANSWER = "answer"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="decisions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision = models.CharField(max_length=8, choices=Kind.choices)
    args = models.JSONField(null=True, blank=True)
    proposed_args = models.JSONField(null=True, blank=True)
    approved_args = models.JSONField(null=True, blank=True)
    args_diff = models.JSONField(default=list, blank=True)
    comment = models.TextField(blank=True)
    reason_code = models.CharField(max_length=100, blank=True)
    # The rule that decided, for an automatic decision (user is then empty).
    automatic_rule = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sealed = models.BinaryField(null=True, blank=True, editable=False)
    # Set when the agent refused the answer this vote led to and the request opened again
    # (`ApprovalRequest.reopen_after_refusal`): kept for the record, no longer counted.
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "user"],
                condition=models.Q(user__isnull=False, superseded_at__isnull=True),
                name="decision_one_per_reviewer",
            )
        ]
        indexes = [models.Index(fields=["created_at"], name="decision_created")]

    def __str__(self) -> str:
        return f"{self.decision} by {self.user_id or self.automatic_rule}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A decision is written once; whatever writes it, its text is redacted before it is stored.
        if self._state.adding:
            self._redact_and_seal()
        super().save(*args, **kwargs)

    def _redact_and_seal(self) -> None:
        exact = {"args": self.args, "approved_args": self.approved_args, "comment": self.comment}
        clean, changed = redacted({**exact, "proposed_args": self.proposed_args, "args_diff": self.args_diff})
        self.sealed = seal_json(exact, _sealing_context("decision", self.id)) if changed else None
        self.args, self.approved_args, self.comment = clean["args"], clean["approved_args"], clean["comment"]
        self.proposed_args, self.args_diff = clean["proposed_args"], clean["args_diff"]

    def exact(self) -> dict[str, Any]:
        """{args, approved_args, comment} as the reviewer sent them (the stored ones are redacted).

        Raises: console.kernel.sealing.SealError (sealed with a key this Steward no longer has)."""
        if self.sealed is None:
            return {"args": self.args, "approved_args": self.approved_args, "comment": self.comment}
        opened: dict[str, Any] = open_json(self.sealed, _sealing_context("decision", self.id))
        return opened


class Webhook(models.Model):
    """An outgoing webhook: JSON signed with HMAC-SHA256, or a Slack-compatible payload."""

    class Format(models.TextChoices):
        JSON = "json"
        SLACK = "slack"

    EVENTS = ("approval.requested", "approval.sla_breached", "approval.escalated")

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=100, default=secrets.token_hex)
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.CASCADE, related_name="webhooks")
    events = models.JSONField(default=list, blank=True, help_text="Empty: every event")
    format = models.CharField(max_length=8, choices=Format.choices, default=Format.JSON)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=100)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_status_next")]

    def __str__(self) -> str:
        return f"{self.event} → {self.webhook_id} ({self.status})"


class ActionLink(models.Model):
    """A one-time approve/reject link sent by email; it opens a confirmation page, never decides on GET."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="action_links")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    decision = models.CharField(max_length=8)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.decision} link for {self.user_id}"

