from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The run engine reaches approvals only through its hooks (agents/engine/hooks.py).
        from agents.engine.hooks import register_approvals
        from agents.engine.limits import LIMIT_ACTION
        from approvals import engine_hooks
        from approvals.limit_requests import on_limit_request_settled
        from approvals.services import on_settled

        register_approvals(engine_hooks)
        # A run paused over a limit: approved → the limit is raised; rejected → the run fails.
        on_settled(LIMIT_ACTION, on_limit_request_settled)
