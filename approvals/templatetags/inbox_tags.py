"""`{% load inbox_tags %}`: what the inbox's rows and pane show of a request beyond its columns."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from approvals.inbox import amount_of, description_html
from approvals.models import ApprovalRequest

register = template.Library()


@register.filter
def request_amount(request: ApprovalRequest) -> str:
    """`{{ approval|request_amount }}`: "250.00 USD" when the action declares a currency, else ""."""
    return amount_of(request)


@register.filter
def age(request: ApprovalRequest) -> str:
    """`{{ approval|age }}`: how long it has waited, short ("5 min", "3 h", "2 d")."""
    seconds = max(0, int((timezone.now() - request.created_at).total_seconds()))
    if seconds < 3600:
        return f"{max(1, seconds // 60)} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


@register.filter
def markdown(text: Any) -> str:
    """`{{ action.description|markdown }}`: an interrupt's description (markdown) as HTML, raw
    HTML in it shown as text (see approvals/inbox.py `description_html`)."""
    return description_html(text)
