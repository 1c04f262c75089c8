"""Malformed JSON gets a 400 before anything else looks at the request (DESIGN: 400 before 401)."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse


class MalformedJsonMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            request.path.startswith("/api/")
            and request.method in ("POST", "PUT", "PATCH")
            and request.content_type in ("application/json", "", "text/plain")
        ):
            body = request.body
            if body.strip():
                try:
                    json.loads(body)
                except (ValueError, UnicodeDecodeError) as exc:
                    return JsonResponse({"detail": f"malformed JSON body: {exc}"}, status=400)
        return self.get_response(request)
