from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from console.checks import check_metrics_token

        checks.register(check_metrics_token, checks.Tags.security, deploy=True)

        # Failed logins count against the login throttle (console/kernel/ratelimit.py).
        from django.contrib.auth.signals import user_login_failed

        from console.kernel.ratelimit import record_login_failure

        user_login_failed.connect(record_login_failure, dispatch_uid="steward-login-throttle")

        # A run that ends failed lands in the dead-letter list (agents/engine/dead_letters.py).
        from agents.engine.dead_letters import on_run_stopped
        from agents.engine.signals import run_stopped

        run_stopped.connect(on_run_stopped, dispatch_uid="steward-dead-letters")
