"""Keyset pagination cursors: an opaque token naming the last row of a page (time, id)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime

from django.utils.dateparse import parse_datetime

from console.errors import Invalid

__all__ = ["decode_cursor", "encode_cursor"]


def encode_cursor(when: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([when.isoformat(), str(row_id)])
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Raises Invalid (422) for a cursor this server did not issue."""
    try:
        created, row_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        when = parse_datetime(created)
        if when is None:
            raise ValueError(created)
        return when, uuid.UUID(row_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise Invalid([{"loc": ["query", "cursor"], "msg": "invalid cursor"}]) from None
