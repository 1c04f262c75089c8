"""API authentication: `Authorization: Bearer <api key>` for programs, the session for browsers.

Role checks happen here too, in the authentication step, so a caller without the role gets 403
before django-ninja looks at the body (docs/architecture.md, "API errors": 403 comes before 422).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth

from console.kernel.errors import Forbidden
from console.kernel.models import ApiKey

__all__ = ["ApiKeyAuth", "api_auth", "api_key_of", "request_auth", "role_auth"]

RoleCheck = Callable[[Any], bool]
# A check that also reads the request (its URL's ids): who may call depends on the object.
RequestCheck = Callable[[HttpRequest, Any], bool]

# Where a request keeps the keys looked up for it: raw key -> the key, or None if unusable.
_LOOKED_UP = "_steward_api_keys"


def api_key_of(request: HttpRequest, raw: str) -> ApiKey | None:
    """The usable key `raw` names (ApiKey.find), looked up once per request: the rate limit
    (console/kernel/ratelimit.py) and authentication both need it, one query between them.
    Records no use: authentication does."""
    looked_up: dict[str, ApiKey | None] = request.__dict__.setdefault(_LOOKED_UP, {})
    if raw not in looked_up:
        looked_up[raw] = ApiKey.find(raw)
    return looked_up[raw]


def _allow_all(user: Any) -> bool:
    return True


def _of_user(check: RoleCheck) -> RequestCheck:
    return lambda request, user: check(user)


class ApiKeyAuth(HttpBearer):
    def __init__(self, check: RoleCheck = _allow_all, action: str = "", request_check: RequestCheck | None = None) -> None:
        super().__init__()
        self.check, self.action = request_check or _of_user(check), action

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        key = api_key_of(request, token)
        if key is None:
            return None
        key.record_use()
        request.user = key.user
        if not self.check(request, key.user):
            raise Forbidden(f"your role does not allow you to {self.action}")
        return key.user


class RoleSessionAuth(SessionAuth):
    def __init__(self, check: RoleCheck = _allow_all, action: str = "", request_check: RequestCheck | None = None) -> None:
        super().__init__()
        self.check, self.action = request_check or _of_user(check), action

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = super().authenticate(request, key)
        if user is not None and not self.check(request, user):
            raise Forbidden(f"your role does not allow you to {self.action}")
        return user


def role_auth(check: RoleCheck, action: str) -> list[Any]:
    # Bearer first: with the session first, a Bearer POST would be held to the CSRF check.
    return [ApiKeyAuth(check, action), RoleSessionAuth(check, action)]


def request_auth(check: RequestCheck, action: str) -> list[Any]:
    """`role_auth` with a check that reads the request too (e.g. the object its URL names),
    still before the body is read (403 before 422)."""
    return [ApiKeyAuth(action=action, request_check=check), RoleSessionAuth(action=action, request_check=check)]


api_auth = role_auth(_allow_all, "")
