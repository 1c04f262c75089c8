"""What every API endpoint shares: the error body, and the base of request bodies."""

from __future__ import annotations

from typing import Any

from ninja import Schema
from pydantic import ModelWrapValidatorHandler, model_validator

__all__ = ["ErrorOut", "InputSchema"]


class ErrorOut(Schema):
    """Every error the API answers: `{"detail": ...}`."""

    detail: Any


class InputSchema(Schema):
    """A request body: a JSON object. django-ninja's Schema reads any value as an object through
    its attributes (made for ORM objects), so a list or a number would pass as an object with
    every field left out; `[{"mode": "live"}]` would start a recorded replay. Here it is a 422."""

    @model_validator(mode="wrap")
    @classmethod
    def _a_json_object(cls, values: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        if not isinstance(values, dict | cls):
            raise ValueError(f"expected a JSON object, got {type(values).__name__}")
        return handler(values)
