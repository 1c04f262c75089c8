"""Spans: one row per node, model call, tool call and gate of a run; people's feedback on runs."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class Span(models.Model):
    class Kind(models.TextChoices):
        NODE = "node"
        MODEL = "model"
        TOOL = "tool"
        GATE = "gate"

    class Status(models.TextChoices):
        OK = "ok"
        ERROR = "error"
        PAUSED = "paused"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own (span_run_seq starts with run) and no database constraint: a run records
    # thousands of spans, and the constraint's check at every step's commit (a lookup and a share
    # lock on the run's row per span) was a third of that commit's cost. A run's spans are written
    # by the worker holding its lease (checked in the same transaction), or with the run's own row
    # (a replay's copy, an import, the volume seed); a run's deletion takes them with it (Django's
    # cascade), and retention deletes spans, never runs.
    run = models.ForeignKey(
        "agents.Run", on_delete=models.CASCADE, related_name="spans", db_index=False, db_constraint=False
    )
    parent_id = models.UUIDField(null=True, blank=True)
    # Order of start within the run, across attempts and resumes.
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=8, choices=Kind.choices)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=8, choices=Status.choices)
    started_at = models.DateTimeField()
    latency_ms = models.FloatField(default=0.0)
    input = models.JSONField(null=True)
    output = models.JSONField(null=True)
    error = models.TextField(blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost = models.FloatField(default=0.0)
    model = models.CharField(max_length=200, blank=True)
    checkpoint_id = models.CharField(max_length=64, blank=True)
    step = models.IntegerField(null=True)
    # The prompt version a model call rendered (no index: it is read per run, not searched).
    prompt_version = models.ForeignKey(
        "agents.PromptVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    # input, output and error are stored redacted (console/kernel/redaction.py). When redaction changed
    # the output or error of a model or tool call, the originals are sealed here (AES-GCM,
    # console/kernel/sealing.py) for the cassette: a recorded replay gives back exactly what the call did.
    sealed = models.BinaryField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["run", "seq"]
        indexes = [
            models.Index(fields=["run", "seq"], name="span_run_seq"),
            # The runs list's `model=` filter: a probe per run for a common model, the runs of a rare one.
            models.Index(fields=["model", "run"], name="span_model_run", condition=models.Q(kind="model")),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


class SealedRunInput(models.Model):
    """A run's input as it was submitted, sealed, when redaction changed it (Run.input holds the
    redacted copy people see): the worker starts the graph with this one, and a replay copies it."""

    run = models.OneToOneField("agents.Run", primary_key=True, on_delete=models.CASCADE, related_name="+")
    sealed = models.BinaryField()

    def __str__(self) -> str:
        return f"sealed input of {self.run_id}"


class Feedback(models.Model):
    """One person's score of a run: thumbs up (+1) or down (-1), with an optional label and comment.

    A person has at most one score per run; scoring again replaces it.
    """

    UP = 1
    DOWN = -1
    SCORES = ((UP, "up"), (DOWN, "down"))

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey("agents.Run", on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="run_feedback")
    score = models.SmallIntegerField(choices=SCORES)
    label = models.CharField(max_length=64, blank=True)
    comment = models.TextField(blank=True)
    # When the current score was given: replacing a score moves it.
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "user"], name="feedback_one_per_user"),
            models.CheckConstraint(condition=models.Q(score__in=[1, -1]), name="feedback_score_up_or_down"),
        ]

    def __str__(self) -> str:
        return f"{'+1' if self.score > 0 else '-1'} on {self.run_id}"
