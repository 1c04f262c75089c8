"""Spans: one row per node, model call, tool call and gate of a run."""

from __future__ import annotations

import uuid

from django.db import models


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
    run = models.ForeignKey("agents.Run", on_delete=models.CASCADE, related_name="spans")
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

    class Meta:
        ordering = ["run", "seq"]
        indexes = [models.Index(fields=["run", "seq"], name="span_run_seq")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"
