"""Turning LangChain and LangGraph values into JSON for spans and API responses."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import uuid
from typing import Any

from langchain_core.messages import BaseMessage
from pydantic import BaseModel

__all__ = ["MessageMemo", "to_jsonable"]

_MAX_DEPTH = 20


# A message's JSON form, by the message's id: (the message, its content and tool calls when
# converted, the form). See `to_jsonable`'s `memo`.
MessageMemo = dict[int, tuple[Any, Any, Any, dict[str, Any]]]


def to_jsonable(value: Any, _depth: int = 0, memo: MessageMemo | None = None) -> Any:
    """A JSON-safe copy: messages become dicts, unknown objects their repr.

    `memo`: messages already converted, kept by whoever converts the same messages again and again
    (a run's recorder: each step's input holds every earlier message, so converting them anew
    made recording quadratic in the conversation's length). A message whose content or tool
    calls were replaced since is converted again; the form is shared, so it must not be modified."""
    if _depth > _MAX_DEPTH:
        return repr(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, BaseMessage):
        if memo is None:
            return _message(value, _depth)
        known = memo.get(id(value))
        tool_calls = getattr(value, "tool_calls", None)
        if known is not None and known[0] is value and known[1] is value.content and known[2] is tool_calls:
            return known[3]
        data = _message(value, _depth)
        memo[id(value)] = (value, value.content, tool_calls, data)
        return data
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, _depth + 1, memo) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v, _depth + 1, memo) for v in value]
    return _other(value, _depth)


def _message(value: BaseMessage, _depth: int) -> dict[str, Any]:
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


def _other(value: Any, _depth: int) -> Any:
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
