"""`{% load display %}`: one way to show a time, a duration, a count, a due time and an amount.

A time is rendered as <time datetime="ISO" data-local title="… UTC">… UTC</time>; the page's
static/console/local-time.js turns the text into the reader's local time (relative when recent)
and keeps the UTC time in the title. Without JavaScript the UTC text stays, labelled as UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from agents.web.durations import format_milliseconds
from console.kernel.display import format_amount, format_count, format_minutes

register = template.Library()

# `code` in a description written for humans (an agent's docstring): a pair of backticks.
BACKTICKED = re.compile(r"`([^`\n]+)`")
# An ISO 8601 time with its offset, as the services' messages carry them (the API shows them so).
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[+-]\d{2}:\d{2}|Z)")


@register.filter
def local_time(value: datetime | None) -> SafeString | str:
    """`{{ run.created_at|local_time }}`: a <time> the browser shows in local time."""
    if value is None:
        return "–"
    utc = value.astimezone(UTC) if timezone.is_aware(value) else value
    text = utc.strftime("%Y-%m-%d %H:%M:%S") + " UTC"
    # Digits, "-", ":", "+", "." and "UTC" only: nothing to escape, and format_html's escaping
    # was a visible share of a 50-row list's render.
    return mark_safe(f'<time datetime="{utc.isoformat()}" data-local title="{text}">{text}</time>')


@register.filter
def ms(milliseconds: float | None) -> str:
    """`{{ run.latency_ms|ms }}`: "420 ms", "15.2 s", "7 min"."""
    return format_milliseconds(milliseconds)


@register.filter
def count(value: Any) -> str:
    """`{{ tokens|count }}`: "880,874"."""
    return format_count(value)


@register.filter
def minutes(value: Any) -> str:
    """`{{ queue.sla_minutes|minutes }}`: "1 day", "2 h 30 min"."""
    return format_minutes(value)


@register.filter
def amount(value: Any, currency: str | None = None) -> str:
    """`{{ value|amount:"USD" }}`: "250.00 USD"; without a currency "250.00"."""
    return format_amount(value, currency or None)


@register.filter
def inline_code(text: str | None) -> SafeString:
    """`{{ spec.description|inline_code }}`: the text escaped, `x` shown as <code>x</code>."""
    # Escaped first, so the only markup in the result is the <code> added here.
    return mark_safe(BACKTICKED.sub(r"<code>\1</code>", escape(text or "")))


@register.filter
def times_local(text: str) -> SafeString:
    """`{{ problem|times_local }}`: a message for people, escaped, whose ISO times (as the API's
    messages carry them: "already approved, by ann at 2026-12-07T12:09:51+00:00") show like every
    other time on the page."""

    def as_time(match: re.Match[str]) -> str:
        try:
            when = datetime.fromisoformat(match.group(0).replace("Z", "+00:00"))
        except ValueError:
            return match.group(0)
        return str(local_time(when))

    return mark_safe(ISO_TIME.sub(as_time, str(escape(text))))
