"""API requests: malformed input gets a 400 before anything else looks at it (DESIGN: 400 comes
before 401), and every error under /api/ is JSON, including Django's own 404 and 405."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _unstorable(value: Any) -> str | None:
    """Strings a database cannot store: NUL characters, unpaired surrogates."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "strings may not contain NUL (\\u0000) characters"
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "strings may not contain unpaired surrogates"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def malformed(request: HttpRequest) -> str | None:
    for key, values in request.GET.lists():
        if any("\x00" in v for v in [key, *values]):
            return "query parameters may not contain NUL characters"
    if request.method not in ("POST", "PUT", "PATCH"):
        return None
    if request.content_type not in ("application/json", "", "text/plain"):
        return None
    body = request.body
    if not body.strip():
        return None
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        return f"malformed JSON body: {exc}"
    except RecursionError:
        return "malformed JSON body: nested too deeply"
    problem = _unstorable(data)
    return f"malformed JSON body: {problem}" if problem else None


class ApiErrorsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/api/"):
            return self.get_response(request)
        problem = malformed(request)
        if problem:
            return JsonResponse({"detail": problem}, status=400)
        response = self.get_response(request)
        if response.status_code in (404, 405) and not response.get("Content-Type", "").startswith("application/json"):
            detail = "not found" if response.status_code == 404 else f"method {request.method} not allowed"
            json_response = JsonResponse({"detail": detail}, status=response.status_code)
            if response.has_header("Allow"):
                json_response["Allow"] = response["Allow"]
            return json_response
        return response
