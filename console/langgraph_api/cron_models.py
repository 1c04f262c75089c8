"""A cron of the LangGraph API: a schedule that starts a run of an assistant, on a thread or
stateless, as the user who created it (crons.py; fired by `langgraph.fire_crons` on beat)."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone as django_tz

__all__ = ["Cron"]


class Cron(models.Model):
    cron_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The assistant as the SDK named it, and the agent it is.
    assistant_id = models.CharField(max_length=100)
    graph_id = models.CharField(max_length=100)
    # None: stateless, each firing a run on a thread of its own.
    thread = models.ForeignKey("console.Thread", null=True, blank=True, on_delete=models.CASCADE, related_name="crons")
    schedule = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC")
    # The run's body each firing sends to `start_or_resume_sdk` (input, config, metadata, ...).
    payload = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    on_run_completed = models.CharField(max_length=16, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    enabled = models.BooleanField(default=True)
    end_time = models.DateTimeField(null=True, blank=True)
    # None once it will not fire again (past end_time, or disabled).
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_id = models.UUIDField(null=True, blank=True)
    # Why the last firing started no run (the thread was busy, the creator lost the role...).
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=django_tz.now)
    updated_at = models.DateTimeField(default=django_tz.now)

    class Meta:
        app_label = "console"
        indexes = [
            # The beat task's query: enabled crons whose time has come.
            models.Index(fields=["next_run_at"], condition=models.Q(enabled=True), name="lg_cron_due"),
            models.Index(fields=["-created_at"], name="lg_cron_listed"),
        ]

    def __str__(self) -> str:
        return f"{self.cron_id} ({self.schedule})"

    def claim(self, due_at: datetime, following: datetime | None) -> bool:
        """Move this firing (due at `due_at`) to the next one in one conditional UPDATE: of
        several beat or worker processes claiming the same firing, exactly one sees True."""
        claimed = Cron.objects.filter(cron_id=self.cron_id, enabled=True, next_run_at=due_at).update(
            next_run_at=following, updated_at=django_tz.now()
        )
        self.next_run_at = following
        return claimed == 1
