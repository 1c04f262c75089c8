"""Keyset pagination cursors: an opaque token naming the last row of a page (sort value, id)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from console.kernel.errors import Invalid

__all__ = ["decode_cursor", "decode_raw", "encode_cursor"]


def _invalid() -> Invalid:
    return Invalid([{"loc": ["query", "cursor"], "msg": "invalid cursor"}])


def encode_cursor(value: Any, row_id: uuid.UUID) -> str:
    raw = json.dumps([value.isoformat() if isinstance(value, datetime) else value, str(row_id)])
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_raw(cursor: str) -> tuple[Any, uuid.UUID]:
    """(the sort value as JSON gave it, the row id). Raises Invalid (422) for a cursor this server did not issue."""
    try:
        value, row_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return value, uuid.UUID(row_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise _invalid() from None


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """A cursor whose sort value is a time."""
    value, row_id = decode_raw(cursor)
    when = parse_datetime(value) if isinstance(value, str) else None
    if when is None:
        raise _invalid()
    return when, row_id
