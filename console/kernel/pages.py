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


def error_text(detail: Any) -> str:
    """A service error's detail as a sentence: field errors become `field: message; ...`."""
    if isinstance(detail, list):
        parts = []
        for error in detail:
            if isinstance(error, dict):
                loc = [str(p) for p in error.get("loc", []) if p not in ("body", "args")] or ["value"]
                parts.append(f"{'.'.join(loc)}: {error.get('msg', '')}")
            else:
                parts.append(str(error))
        return "; ".join(parts)
    return str(detail)
