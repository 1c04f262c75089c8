"""A request the database could not take: Django's connection pool stayed empty for
STEWARD_DB_POOL_TIMEOUT seconds (psycopg_pool.PoolTimeout), or Postgres refused a new connection
("too many clients"). Nothing was written, so the client may simply try again: the API answers
503 JSON with Retry-After and a page a 503 page, never a 500 (console/kernel/middleware.py and
console/web/api.py)."""

from __future__ import annotations

import sys

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views import defaults
from psycopg_pool import PoolTimeout

__all__ = ["RETRY_AFTER_SECONDS", "busy_response", "database_busy", "server_error"]

# Seconds a refused client is asked to wait: a burst drains in about this long.
RETRY_AFTER_SECONDS = 2
# Postgres' words when every connection slot is taken (SQLSTATE 53300, which a failed connection
# attempt does not carry).
_REFUSALS = ("too many clients", "remaining connection slots are reserved")


def database_busy(exc: BaseException) -> bool:
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if isinstance(cause, PoolTimeout):
        return True
    message = str(exc)
    return any(refusal in message for refusal in _REFUSALS)


def busy_response(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            {"detail": "the database is busy: try again in a few seconds"}, status=503
        )
    else:
        # Without the request: its context processors would ask the database again.
        response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's handler500. A refusal raised outside a view (in a middleware that loads the
    session or the user) never reaches ApiErrorsMiddleware.process_exception: Django turns it into
    a 500 right where it was raised and calls this handler while the exception is being handled,
    so it can still be told apart here."""
    exc = sys.exc_info()[1]
    if exc is not None and database_busy(exc):
        return busy_response(request)
    return defaults.server_error(request)
