"""How pages show a duration, the same on the runs list, the run page and the dashboard."""

from __future__ import annotations

from approvals.queue_views import human_duration

__all__ = ["format_milliseconds", "format_seconds"]


def format_seconds(seconds: float | None) -> str:
    """A duration for a figure: agent runs often take under a second, so milliseconds count."""
    if seconds is None:
        return "–"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return human_duration(seconds)


def format_milliseconds(milliseconds: float | None) -> str:
    """`format_seconds` for the run totals, which are in milliseconds (`wall_ms`, `active_ms`)."""
    return format_seconds(None if milliseconds is None else milliseconds / 1000)
