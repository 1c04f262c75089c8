"""One URL, several methods: each handler gets the authenticated user and the JSON body, and
whatever it raises becomes the error body the SDK reads (`{"detail": ...}`) with its status."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from pydantic import BaseModel, ValidationError

from console.kernel.errors import Invalid, StewardError, validation_errors
from console.langgraph_api.auth import Role, authenticate

__all__ = ["Call", "RateLimited", "Reply", "body_as", "route"]

log = logging.getLogger(__name__)


class RateLimited(StewardError):
    """429 with Retry-After: the caller's budget of run starts or decisions is spent."""

    status = 429

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Reply:
    """A handler's answer other than a plain 200 with JSON: a status, headers, or no body."""

    def __init__(self, data: Any = None, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.data, self.status, self.headers = data, status, headers or {}


class Call:
    """What a handler gets: the request, its caller and its parsed JSON body (None if empty)."""

    def __init__(self, request: HttpRequest, user: Any, body: Any) -> None:
        self.request, self.user, self.body = request, user, body

    def query(self, name: str, default: str = "") -> str:
        return self.request.GET.get(name, default)


Handler = Callable[..., Any]


def _json(data: Any, status: int, headers: dict[str, str]) -> HttpResponse:
    if data is None and status in (202, 204):
        response = HttpResponse(status=status)
    else:
        response = JsonResponse(data, status=status, safe=False, encoder=DjangoJSONEncoder)
    for name, value in headers.items():
        response[name] = value
    return response


def _error(status: int, detail: Any) -> HttpResponse:
    return JsonResponse({"detail": detail}, status=status)


def _body(request: HttpRequest) -> Any:
    if not request.body:
        return None
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise StewardError("the body is not valid JSON") from None


def body_as(schema: type[BaseModel], body: Any) -> Any:
    """The body validated by `schema` (None is an empty object).

    Raises:
        Invalid: 422 with pydantic's field errors under "body"."""
    try:
        return schema.model_validate(body if body is not None else {})
    except ValidationError as exc:
        raise Invalid(validation_errors(exc, "body")) from None


def route(**methods: tuple[Handler, Role]) -> Callable[..., HttpResponse]:
    """A view answering each of `methods` (GET=(handler, role), POST=...) and 405 for others."""

    @csrf_exempt
    def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        entry = methods.get(request.method or "")
        if entry is None:
            return _error(405, f"method {request.method} is not allowed here; allowed: {', '.join(sorted(methods))}")
        handler, role = entry
        try:
            # 400 before 401 (docs/architecture.md, "API errors").
            body = _body(request)
            user = authenticate(request, role)
            result = handler(Call(request, user, body), **kwargs)
        except StewardError as exc:
            response = _error(exc.status, exc.detail)
            if isinstance(exc, RateLimited):
                response["Retry-After"] = str(exc.retry_after)
            return response
        if isinstance(result, Reply):
            return _json(result.data, result.status, result.headers)
        return _json(result, 200, {})

    return view
