"""API authentication: `Authorization: Bearer <api key>` for programs, the session for browsers."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer, django_auth

from console.models import ApiKey

__all__ = ["ApiKeyAuth", "api_auth"]


class ApiKeyAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        key = ApiKey.authenticate(token)
        if key is None:
            return None
        request.user = key.user
        request.api_key = key  # type: ignore[attr-defined]
        return key.user


# Bearer first: with the session first, a Bearer POST would be held to the CSRF check.
api_auth = [ApiKeyAuth(), django_auth]
