"""What the LangGraph API keeps beside Steward's runs: its threads (metadata, who made them,
hidden once deleted) and, per run it started, the SDK's view of that run."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from agents.engine.models import Run

__all__ = ["SdkRun", "Thread"]


class Thread(models.Model):
    """An SDK thread. Its runs are the Steward runs whose `thread_id` is this id; its state is
    the checkpoints LangGraph keeps under that id. Deleting hides it: runs, spans, audit rows
    and ledger rows stay (docs/langgraph-api.md)."""

    thread_id = models.CharField(max_length=100, primary_key=True)
    metadata = models.JSONField(default=dict, blank=True)
    # The agent whose checkpoints the thread holds: set by its first run.
    graph_id = models.CharField(max_length=100, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    hidden_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "console"
        indexes = [models.Index(fields=["hidden_at", "-created_at"], name="lg_thread_listed")]

    def __str__(self) -> str:
        return self.thread_id

    @classmethod
    def new_id(cls) -> str:
        return str(uuid.uuid4())

    def touch(self, **fields: Any) -> None:
        for name, value in fields.items():
            setattr(self, name, value)
        self.updated_at = timezone.now()
        self.save(update_fields=[*fields, "updated_at"])

    def hide(self) -> None:
        self.touch(hidden_at=timezone.now())


class SdkRun(models.Model):
    """A Steward run as the SDK started it. One Steward run spans its resumes; the SDK's resumes
    of it answer with the same run id (docs/langgraph-api.md, "Run identity")."""

    run = models.OneToOneField(Run, primary_key=True, on_delete=models.CASCADE, related_name="+")
    # None: a stateless run (`/runs`), whose thread is its own.
    thread = models.ForeignKey(Thread, null=True, blank=True, on_delete=models.CASCADE, related_name="sdk_runs")
    assistant_id = models.CharField(max_length=100)
    multitask_strategy = models.CharField(max_length=16, default="reject")
    kwargs = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    hidden_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "console"

    def __str__(self) -> str:
        return str(self.run_id)

    def hide(self) -> None:
        self.hidden_at = self.updated_at = timezone.now()
        self.save(update_fields=["hidden_at", "updated_at"])
