"""A run's durations as pages show them (agents/web/durations.py), so the runs list, the run page
and the dashboard print the same figure for the same run."""

from __future__ import annotations

from django import template

from agents.web.durations import format_milliseconds

register = template.Library()

__all__ = ["duration_ms"]


@register.filter
def duration_ms(milliseconds: float | None) -> str:
    """`{{ run.wall_ms|duration_ms }}`: "457 ms", "15.2 s", "3 min 5 s"; "–" when not known."""
    return format_milliseconds(milliseconds)
