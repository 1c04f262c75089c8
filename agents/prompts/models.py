"""Prompts, their immutable versions, labels (with A/B splits) and each label's history."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

__all__ = ["Prompt", "PromptLabel", "PromptLabelMove", "PromptVersion", "RunPromptVersion", "content_hash"]


def content_hash(kind: str, template: Any, variables: Any, model_settings: Any, output_schema: Any) -> str:
    """sha256 over the canonical JSON of what a version says (not who wrote it or when)."""
    body = {
        "kind": kind,
        "template": template,
        "variables": variables,
        "model_settings": model_settings,
        "output_schema": output_schema,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class Prompt(models.Model):
    class Kind(models.TextChoices):
        CHAT = "chat"
        TEXT = "text"

    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.CHAT)
    # Moving one of these labels needs another admin's approval (four-eyes).
    protected_labels = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    # Not a column: set by prompt_views.prompt_list for its page (its last version or label move).
    changed_at: datetime | None

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def is_protected(self, label: str) -> bool:
        return label in (self.protected_labels or [])


class PromptVersion(models.Model):
    """One saved version. Never edited: a change is a new version (a Postgres trigger refuses
    UPDATE on this table, and `save()` refuses it everywhere)."""

    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=8, choices=Prompt.Kind.choices)
    # chat: [{"role": "system"|"user"|"assistant", "content": "..."} | {"role": "placeholder", "name": "..."}]
    # text: "a string template"
    template = models.JSONField()
    # variable name → type ("string", "number", "integer", "boolean", "messages")
    variables = models.JSONField(default=dict, blank=True)
    # {"model": ..., "temperature": ..., "max_tokens": ...}
    model_settings = models.JSONField(default=dict, blank=True)
    output_schema = models.JSONField(null=True, blank=True)
    content_hash = models.CharField(max_length=64)
    message = models.CharField(max_length=500, blank=True)
    # The version the author started from; the editor uses it to catch concurrent saves.
    base_number = models.PositiveIntegerField(null=True, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Set on versions that came from another Steward's export: who wrote them there.
    imported_author = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    # Not a column: set by prompt_views for the prompt's page (the labels pointing at this version).
    label_names: list[str]

    class Meta:
        ordering = ["prompt", "number"]
        constraints = [models.UniqueConstraint(fields=["prompt", "number"], name="prompt_version_number_unique")]

    def __str__(self) -> str:
        return f"{self.prompt.name} v{self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("prompt versions are immutable: save a new version instead")
        super().save(*args, **kwargs)

    @property
    def author_name(self) -> str:
        return self.author.get_username() if self.author else self.imported_author

    def compute_hash(self) -> str:
        return content_hash(self.kind, self.template, self.variables, self.model_settings, self.output_schema)

    def as_dict(self, with_prompt: bool = True) -> dict[str, Any]:
        """The version as the API shows it and exports carry it (`with_prompt=False`: nested under
        its prompt, without touching `self.prompt`)."""
        return {
            **({"prompt": self.prompt.name} if with_prompt else {}),
            "number": self.number,
            "kind": self.kind,
            "template": self.template,
            "variables": self.variables,
            "model_settings": self.model_settings,
            "output_schema": self.output_schema,
            "content_hash": self.content_hash,
            "message": self.message,
            "base_number": self.base_number,
            "author": self.author_name,
            "created_at": self.created_at.isoformat(),
        }


class PromptLabel(models.Model):
    """A name (`production`, `staging`, ...) pointing at a version, optionally splitting traffic."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="labels")
    name = models.SlugField(max_length=64)
    version = models.ForeignKey(PromptVersion, on_delete=models.PROTECT, related_name="+")
    # A/B: [{"version": 3, "weight": 80}, {"version": 4, "weight": 20}]; empty means all to `version`.
    split = models.JSONField(default=list, blank=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["prompt", "name"]
        constraints = [models.UniqueConstraint(fields=["prompt", "name"], name="prompt_label_unique")]

    def __str__(self) -> str:
        return f"{self.prompt.name}@{self.name} → v{self.version.number}"


class PromptLabelMove(models.Model):
    """A label's history: every move (a rollback is a move back), with who approved it."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="label_moves")
    label = models.SlugField(max_length=64)
    from_number = models.PositiveIntegerField(null=True, blank=True)
    to_number = models.PositiveIntegerField()
    split = models.JSONField(default=list, blank=True)
    moved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approval_request = models.ForeignKey(
        "approvals.ApprovalRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["prompt", "label", "-created_at"], name="prompt_label_move_history")]

    def __str__(self) -> str:
        return f"{self.prompt.name}@{self.label}: v{self.from_number} → v{self.to_number}"


class RunPromptVersion(models.Model):
    """Which prompt versions a run used (pinned when it started): per-version results and the
    runs list's prompt filter read this table."""

    run = models.ForeignKey("agents.Run", on_delete=models.CASCADE, related_name="prompt_pins")
    version = models.ForeignKey(PromptVersion, on_delete=models.PROTECT, related_name="run_pins")
    label = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "version"], name="run_prompt_version_unique")]
        indexes = [models.Index(fields=["version", "run"], name="run_prompt_by_version")]

    def __str__(self) -> str:
        return f"{self.run_id}: {self.version_id}"
