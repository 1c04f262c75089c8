"""Errors that services raise and both the API and the pages turn into a clear answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = ["Conflict", "Forbidden", "Invalid", "NotFound", "StewardError", "validation_errors"]


class StewardError(Exception):
    status = 400

    def __init__(self, detail: Any) -> None:
        super().__init__(detail if isinstance(detail, str) else repr(detail))
        self.detail = detail


class Forbidden(StewardError):
    status = 403


class NotFound(StewardError):
    status = 404


class Conflict(StewardError):
    status = 409


class Invalid(StewardError):
    """Values that are well-formed but wrong; `detail` is a list of field errors."""

    status = 422


def validation_errors(error: ValidationError, prefix: str) -> list[dict[str, Any]]:
    """Pydantic's errors as Invalid's field errors, located under `prefix` ("input", "body"...)."""
    return [
        {"loc": [prefix, *[str(p) for p in e["loc"]]], "msg": e["msg"], "type": e["type"]}
        for e in error.errors(include_url=False)
    ]
