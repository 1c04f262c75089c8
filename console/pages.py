"""Helpers the page views share: role checks that answer 403, JSON shown as text."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import PermissionDenied


def require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied


def pretty(value: Any) -> str:
    """JSON for a <pre>: the template escapes it, so model output is only ever text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)
