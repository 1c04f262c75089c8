"""What the traces app connects when Django starts (traces/apps.py)."""

from __future__ import annotations

from django.core import checks

from agents.engine.signals import run_stopped
from traces.inspection import otel


def connect() -> None:
    # OpenTelemetry export when a run stops (a no-op unless STEWARD_OTLP_ENDPOINT is set);
    # traces.inspection.otel imports OpenTelemetry only when it exports.
    run_stopped.connect(otel.on_run_stopped, dispatch_uid="traces.inspection.otel")
    checks.register(otel.check_otel_installed)
