"""Display helpers for a run's limits: each limit with what the run has used of it. Plain data;
the templates escape it."""

from __future__ import annotations

from typing import Any

from django import template

from agents.engine.limits import LABELS, LIMIT_NAMES, format_limit

register = template.Library()

__all__ = ["limit_items"]


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 100 else f"{value:.0f} s"


@register.simple_tag
def limit_items(run: Any) -> list[dict[str, Any]]:
    """[{name, label, used, limit, for_run, over}] for each limit the run has (none: empty)."""
    limits = run.limits or {}
    for_run = set(limits.get("set_for_run") or [])
    used = {
        "max_steps": str(run.steps),
        "timeout_seconds": _seconds(run.active_seconds),
        "node_timeout_seconds": "",
        "max_cost_usd": f"${run.cost:.6f}".rstrip("0").rstrip(".") if run.cost else "$0",
    }
    items = []
    for name in LIMIT_NAMES:
        value = limits.get(name)
        if value is None:
            continue
        items.append(
            {"name": name, "label": LABELS[name], "used": used[name], "limit": format_limit(name, value), "for_run": name in for_run}
        )
    return items
