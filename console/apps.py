from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # A run that ends failed lands in the dead-letter list (console/dead_letters.py).
        from agents.engine.dead_letters import on_run_stopped
        from agents.engine.signals import run_stopped

        run_stopped.connect(on_run_stopped, dispatch_uid="steward-dead-letters")
