"""Who calls the LangGraph API: a Steward API key in the SDK's `x-api-key` header, or in
`Authorization: Bearer` (the same keys as `/api/`). The roles are `/api/`'s: whoever may read
runs reads assistants, threads and runs; starting, changing and cancelling need the role that
starts runs on `/api/runs`; creating or changing assistants is for admins. A resume is a
decision, checked by approvals (approvals/services.py) per interrupt."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest

from console.kernel.auth import api_key_of
from console.kernel.errors import Forbidden, StewardError
from console.kernel.roles import can_read_runs, can_start_runs, is_admin

__all__ = ["ADMIN", "READ", "WRITE", "Unauthorized", "authenticate", "Role"]


class Unauthorized(StewardError):
    status = 401


Role = tuple[Callable[[Any], bool], str]
READ: Role = (can_read_runs, "read threads and runs")
WRITE: Role = (can_start_runs, "start, change or cancel runs and threads")
ADMIN: Role = (is_admin, "create or change assistants")


def _token(request: HttpRequest) -> str:
    token = request.headers.get("x-api-key", "").strip()
    if token:
        return token
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def authenticate(request: HttpRequest, role: Role) -> Any:
    """The key's user, who must have `role`.

    Raises:
        Unauthorized: no key, or one that is unknown, revoked or expired. Forbidden: the role."""
    token = _token(request)
    key = api_key_of(request, token) if token else None
    if key is None:
        raise Unauthorized("an API key is required: send it in the x-api-key header (get_client(api_key=...))")
    key.record_use()
    check, action = role
    if not check(key.user):
        raise Forbidden(f"your role does not allow you to {action}")
    request.user = key.user
    return key.user
