"""A run's durations as pages show them (agents/web/durations.py), so the runs list, the run page
and the dashboard print the same figure for the same run."""

from __future__ import annotations

import json
from typing import Any

from django import template

from agents.web.durations import format_milliseconds

register = template.Library()

__all__ = ["duration_ms", "input_preview"]

PREVIEW_CHARS = 80


@register.filter
def duration_ms(milliseconds: float | None) -> str:
    """`{{ run.wall_ms|duration_ms }}`: "457 ms", "15.2 s", "3 min 5 s"; "–" when not known."""
    return format_milliseconds(milliseconds)


@register.filter
def input_preview(data: Any) -> str:
    """`{{ run.input|input_preview }}`: the run's input on one line, cut at PREVIEW_CHARS (the
    template escapes it: it is user data)."""
    text = json.dumps(data, ensure_ascii=False, default=str, separators=(", ", ": "))
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"
