from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_agents(sender: AppConfig, **kwargs: Any) -> None:
    from agents.registry import sync_agents

    sync_agents()
    from agents.prompts import sync_prompts

    sync_prompts()


class AgentsConfig(AppConfig):
    name = "agents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Agent rows follow the registry after every migrate.
        post_migrate.connect(_sync_agents, sender=self)
        # An approved promotion moves its prompt label in the deciding transaction.
        from agents.prompt_services import PROMOTE_ACTION, apply_promotion
        from approvals.services import on_settled

        on_settled(PROMOTE_ACTION, apply_promotion)
        # A run paused over a limit: approved → the limit is raised; rejected → the run fails.
        from agents.limits import LIMIT_ACTION, on_limit_request_settled

        on_settled(LIMIT_ACTION, on_limit_request_settled)
