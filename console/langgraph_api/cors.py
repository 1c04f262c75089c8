"""CORS for `/langgraph/`, so browser clients on another origin (Agent Inbox, a team's own UI)
can call the SDK API. Off unless STEWARD_LANGGRAPH_CORS_ORIGINS lists origins; only exact
origins are allowed (no wildcard): the API takes keys that start runs and decide approvals.

- A preflight (`OPTIONS` with Access-Control-Request-Method) from a listed origin is answered
  here with 204, before authentication and the rate limit: browsers send it without the key.
- Every other `/langgraph/` response to a listed origin carries Access-Control-Allow-Origin
  and exposes Content-Location and Location (the SDK's reconnect reads them).
- An unlisted origin gets no CORS headers, so the browser withholds the response from its page.
- `Vary: Origin` is on every `/langgraph/` response while CORS is on: a cache must not hand one
  origin's answer to another.

No credentials mode: the SDK sends its key in a header (`x-api-key` / `Authorization`), never a
cookie, so Access-Control-Allow-Credentials is not set and session cookies are never usable
cross-origin."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers

__all__ = ["ALLOWED_HEADERS", "ALLOWED_METHODS", "LangGraphCorsMiddleware"]

PREFIX = "/langgraph/"
ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
# What langgraph_sdk (Python and JS) sends: its key, a bearer token, JSON, and the SSE resume id.
ALLOWED_HEADERS = "x-api-key, authorization, content-type, last-event-id"
EXPOSED_HEADERS = "Content-Location, Location"
# Seconds a browser may reuse a preflight's answer (Chromium caps it at 7200).
MAX_AGE = "600"


class LangGraphCorsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        origins: list[str] = settings.STEWARD_LANGGRAPH_CORS_ORIGINS
        if not origins or not request.path.startswith(PREFIX):
            return self.get_response(request)
        origin = request.headers.get("Origin", "")
        listed = origin in origins
        if listed and request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            response = HttpResponse(status=204)
            response["Access-Control-Allow-Origin"] = origin
            response["Access-Control-Allow-Methods"] = ALLOWED_METHODS
            response["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response["Access-Control-Max-Age"] = MAX_AGE
        else:
            response = self.get_response(request)
            if listed:
                response["Access-Control-Allow-Origin"] = origin
                response["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        patch_vary_headers(response, ("Origin",))
        return response
