"""Steward's own `manage.py check --deploy` warnings (ids steward.W0xx; traces/inspection/otel.py has W001)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

__all__ = ["check_metrics_token"]


def check_metrics_token(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """/metrics (console/web/metrics.py) answers anyone while METRICS_TOKEN is empty: fine on a laptop,
    not in production, where it tells whoever asks what runs, agents and queues there are."""
    if settings.METRICS_TOKEN:
        return []
    return [
        checks.Warning(
            "METRICS_TOKEN is empty: /metrics answers anyone who can reach it.",
            hint="Set METRICS_TOKEN and scrape with `Authorization: Bearer <token>` (docs/production.md, Metrics).",
            id="steward.W002",
        )
    ]
