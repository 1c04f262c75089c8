"""What the agents app connects when Django starts (agents/apps.py)."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core import checks
from django.db.models.signals import post_migrate

from agents.engine import thread_queue
from agents.engine.langgraph_json import LangGraphJsonError
from agents.engine.models import Run
from agents.engine.registry import reload_langgraph_json, sync_agents
from agents.engine.signals import run_stopped
from agents.prompt_admin.services import PROMOTE_ACTION, apply_promotion
from agents.prompts import prompt_pinned_late, sync_prompts
from approvals.services import on_settled


def _sync_agents(sender: AppConfig, **kwargs: Any) -> None:
    sync_agents()
    sync_prompts()


def _langgraph_json_loads(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """STEWARD_LANGGRAPH_JSON must load whole: `manage.py check` (and so migrate, serve_embedded,
    `make demo`, `make serve`) stops on a graph it cannot load, before anything starts."""
    try:
        reload_langgraph_json()
    except LangGraphJsonError as exc:
        return [checks.Error(str(exc), hint="fix langgraph.json or unset STEWARD_LANGGRAPH_JSON", id="steward.E001")]
    return []


def _pin_prompt_late(sender: Any, run_id: Any, name: str, pin: dict[str, Any], **kwargs: Any) -> bool:
    return Run.pin_prompt_late(run_id, name, pin)


def connect(app: AppConfig) -> None:
    checks.register(_langgraph_json_loads)
    # Agent rows follow the registry after every migrate.
    post_migrate.connect(_sync_agents, sender=app)
    # A prompt pinned at its first use is added to the run's own pins.
    prompt_pinned_late.connect(_pin_prompt_late, dispatch_uid="run-pin-prompt-late")
    # A run that ends starts the run queued behind it on its thread (multitask_strategy=enqueue).
    run_stopped.connect(thread_queue.on_run_stopped, dispatch_uid="run-thread-queue")
    # An approved promotion moves its prompt label in the deciding transaction.
    on_settled(PROMOTE_ACTION, apply_promotion)
