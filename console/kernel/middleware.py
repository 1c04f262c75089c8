"""API requests: malformed input gets a 400 before anything else looks at it (docs/architecture.md, "API errors": 400 comes
before 401), and every error under /api/ is JSON {"detail": ...}, including Django's own pages: its
404 and 405, its 400 for a body over DATA_UPLOAD_MAX_MEMORY_SIZE (a 413 here), its 500 page for a
view that raised (logged with its traceback by django.request, as anywhere) and any HTML 503.
A view the database could not take (its pool stayed empty, or Postgres refused) gets a 503 with
Retry-After, on a page too (console/kernel/database_busy.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse

from console.kernel.database_busy import busy_response, database_busy


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


def too_large() -> JsonResponse:
    limit_mb = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / (1024 * 1024)
    return JsonResponse({"detail": f"request body too large: at most {limit_mb:g} MB"}, status=413)


def _detail_for(request: HttpRequest, status: int) -> str:
    if status == 405:
        return f"method {request.method} not allowed"
    try:
        return HTTPStatus(status).phrase.lower()
    except ValueError:
        return f"error {status}"


class ApiErrorsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/api/"):
            return self.get_response(request)
        try:
            problem = malformed(request)
        except RequestDataTooBig:
            return too_large()
        if problem:
            return JsonResponse({"detail": problem}, status=400)
        response = self.get_response(request)
        if response.status_code >= 400 and not response.get("Content-Type", "").startswith("application/json"):
            json_response = JsonResponse({"detail": _detail_for(request, response.status_code)}, status=response.status_code)
            for header in ("Allow", "Retry-After"):
                if response.has_header(header):
                    json_response[header] = response[header]
            # Django logs an error response once, marking it; the replacement must not be logged again.
            if getattr(response, "_has_been_logged", False):
                json_response._has_been_logged = True  # type: ignore[attr-defined]
            return json_response
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # A page (or an API view outside django-ninja) the database could not take: 503, not 500.
        if database_busy(exception):
            return busy_response(request)
        # A view outside django-ninja that reads an oversized body: Django would answer 400.
        if request.path.startswith("/api/") and isinstance(exception, RequestDataTooBig):
            return too_large()
        return None
