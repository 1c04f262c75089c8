from django.apps import AppConfig


class TracesConfig(AppConfig):
    name = "traces"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from agents.engine.signals import run_stopped
        from traces.inspection import otel

        # OpenTelemetry export when a run stops (a no-op unless STEWARD_OTLP_ENDPOINT is set);
        # traces.inspection.otel imports OpenTelemetry only when it exports.
        run_stopped.connect(otel.on_run_stopped, dispatch_uid="traces.inspection.otel")
        checks.register(otel.check_otel_installed)
