"""Turning LangChain and LangGraph values into JSON for spans and API responses."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import uuid
from typing import Any

from langchain_core.messages import BaseMessage
from pydantic import BaseModel

__all__ = ["to_jsonable"]

_MAX_DEPTH = 20


def to_jsonable(value: Any, _depth: int = 0) -> Any:
    """A JSON-safe copy: messages become dicts, unknown objects their repr."""
    if _depth > _MAX_DEPTH:
        return repr(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, BaseMessage):
        data: dict[str, Any] = {"type": value.type, "content": to_jsonable(value.content, _depth + 1)}
        if value.name:
            data["name"] = value.name
        for attr in ("tool_calls", "tool_call_id", "usage_metadata"):
            extra = getattr(value, attr, None)
            if extra:
                data[attr] = to_jsonable(extra, _depth + 1)
        if getattr(value, "status", None) == "error":
            data["status"] = "error"
        return data
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v, _depth + 1) for v in value]
    if isinstance(value, BaseModel):
        return to_jsonable(value.model_dump(mode="json"), _depth + 1)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value), _depth + 1)
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    if hasattr(value, "value") and hasattr(value, "id") and type(value).__name__ == "Interrupt":
        return {"interrupt_id": value.id, "value": to_jsonable(value.value, _depth + 1)}
    return repr(value)
