from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_agents(sender: AppConfig, **kwargs: Any) -> None:
    from agents.engine.registry import sync_agents

    sync_agents()
    from agents.prompts import sync_prompts

    sync_prompts()


def _pin_prompt_late(sender: Any, run_id: Any, name: str, pin: dict[str, Any], **kwargs: Any) -> bool:
    from agents.engine.models import Run

    return Run.pin_prompt_late(run_id, name, pin)


class AgentsConfig(AppConfig):
    name = "agents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Agent rows follow the registry after every migrate.
        post_migrate.connect(_sync_agents, sender=self)
        # A prompt pinned at its first use is added to the run's own pins.
        from agents.prompts import prompt_pinned_late

        prompt_pinned_late.connect(_pin_prompt_late, dispatch_uid="run-pin-prompt-late")
        # An approved promotion moves its prompt label in the deciding transaction.
        from agents.prompt_admin.services import PROMOTE_ACTION, apply_promotion
        from approvals.services import on_settled

        on_settled(PROMOTE_ACTION, apply_promotion)
