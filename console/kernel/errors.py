"""Errors that services raise and both the API and the pages turn into a clear answer."""

from __future__ import annotations

from typing import Any

__all__ = ["Conflict", "Forbidden", "Invalid", "NotFound", "StewardError"]


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
