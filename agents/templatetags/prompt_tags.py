"""Display helpers for the prompt pages and the promotion request page: diff rows with the
changed words marked, rates as percentages, A/B splits as text. Everything returned is
plain data or plain text; the templates escape it."""

from __future__ import annotations

from typing import Any

from django import template

from agents.prompt_admin.word_diff import changed_rows, side_by_side

register = template.Library()

__all__ = ["diff_changes", "percent", "prompt_diff", "split_text", "vlabel"]


@register.filter
def prompt_diff(rows: Any) -> list[dict[str, Any]]:
    """`version_diff` rows ready for a side-by-side table (agents/prompt_admin/word_diff.py)."""
    return side_by_side(rows)


@register.filter
def diff_changes(rows: Any) -> int:
    """How many rows of a diff are not equal."""
    return changed_rows(rows)


@register.filter
def percent(rate: Any) -> str:
    if rate is None or rate == "":
        return "–"
    try:
        return f"{float(rate) * 100:.0f} %"
    except (TypeError, ValueError):
        return "–"


@register.filter
def split_text(split: Any) -> str:
    """[{"version": 3, "weight": 80}, {"version": 4, "weight": 20}] → "v3 80 % / v4 20 %"."""
    if not isinstance(split, list) or not split:
        return ""
    try:
        total = sum(float(part["weight"]) for part in split) or 1.0
        return " / ".join(f"v{part['version']} {float(part['weight']) / total * 100:.0f} %" for part in split)
    except (KeyError, TypeError, ValueError):
        return str(split)


@register.filter
def vlabel(number: Any, note: str = "") -> str:
    """3, "live" → "v3 (live)"; None → "–"."""
    if number in (None, ""):
        return "–"
    return f"v{number} ({note})" if note else f"v{number}"
