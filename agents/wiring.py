"""What the agents app connects when Django starts (agents/apps.py)."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate

from agents.engine.models import Run
from agents.engine.registry import sync_agents
from agents.prompt_admin.services import PROMOTE_ACTION, apply_promotion
from agents.prompts import prompt_pinned_late, sync_prompts
from approvals.services import on_settled


def _sync_agents(sender: AppConfig, **kwargs: Any) -> None:
    sync_agents()
    sync_prompts()


def _pin_prompt_late(sender: Any, run_id: Any, name: str, pin: dict[str, Any], **kwargs: Any) -> bool:
    return Run.pin_prompt_late(run_id, name, pin)


def connect(app: AppConfig) -> None:
    # Agent rows follow the registry after every migrate.
    post_migrate.connect(_sync_agents, sender=app)
    # A prompt pinned at its first use is added to the run's own pins.
    prompt_pinned_late.connect(_pin_prompt_late, dispatch_uid="run-pin-prompt-late")
    # An approved promotion moves its prompt label in the deciding transaction.
    on_settled(PROMOTE_ACTION, apply_promotion)
