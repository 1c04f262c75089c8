"""One NinjaAPI; each app mounts its router. Errors are JSON {"detail": ...}."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError

from agents.prompt_admin.api import router as prompts_router
from agents.prompt_admin.regression_api import router as prompt_regression_router
from agents.web.api import router as runs_router
from agents.web.limits_api import router as agents_router
from approvals.api import router as approvals_router
from approvals.queues_api import router as queues_router
from console.kernel.auth import api_auth
from console.kernel.database_busy import busy_response, database_busy
from console.kernel.errors import StewardError
from console.kernel.middleware import too_large
from console.kernel.ratelimit import LIMITED
from console.web.dead_letters_api import router as dead_letters_router
from traces.inspection.api import router as traces_router
from traces.inspection.api import threads_router

# Statuses that shared machinery, not the view, answers: documented on every operation they can
# reach so the OpenAPI document holds every status a client can get (schemathesis checks it).
_SHARED_ERRORS = {
    400: "Malformed request: a body that is not JSON, or a NUL character (console/kernel/middleware.py)",
    401: "No valid credentials: send Authorization: Bearer <api key>",
    403: "Your role does not allow this",
    413: "Body over DATA_UPLOAD_MAX_MEMORY_SIZE (console/kernel/middleware.py)",
    422: "Invalid values: `detail` lists each field's problem",
    429: "Rate limited: retry after the Retry-After header's seconds (console/kernel/ratelimit.py)",
}


def document_shared_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the shared error statuses to each operation they apply to: 400 to all, 401 and 403 to
    those that need credentials, 413 to those that take a body, 422 to those that take parameters
    or a body, 429 to the
    rate-limited ones. What a view declares itself is left as it is."""

    limited = {name.split(":", 1)[1] for name in LIMITED if name.startswith("api:")}
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(
        "Error",
        {"title": "Error", "type": "object", "properties": {"detail": {"title": "Detail"}}, "required": ["detail"]},
    )
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            statuses = [400]  # ninja keys responses by int
            if operation.get("security"):
                statuses += [401, 403]
            if operation.get("requestBody"):
                statuses.append(413)
            if operation.get("parameters") or operation.get("requestBody"):
                statuses.append(422)
            # Operation ids end with the view's name, which is also its URL name (api:<name>).
            if any(operation.get("operationId", "").endswith("_" + name) for name in limited):
                statuses.append(429)
            responses = operation.setdefault("responses", {})
            for status in statuses:
                responses.setdefault(
                    status,
                    {
                        "description": _SHARED_ERRORS[status],
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    },
                )
            if 429 in statuses:
                responses[429].setdefault(
                    "headers", {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
                )
            operation["responses"] = dict(sorted(responses.items(), key=lambda item: int(item[0])))
    return schema


class StewardAPI(NinjaAPI):
    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None) -> Any:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        document_shared_errors(schema)
        return schema


api = StewardAPI(
    title="Steward API",
    version="1",
    description="Run LangGraph agents, inspect their steps and decide their gated actions.",
    auth=api_auth,
    urls_namespace="api",
)


@api.exception_handler(StewardError)
def _steward_error(request: HttpRequest, exc: StewardError) -> HttpResponse:
    return api.create_response(request, {"detail": exc.detail}, status=exc.status)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return api.create_response(
        request, {"detail": "authentication required: send Authorization: Bearer <api key>"}, status=401
    )


@api.exception_handler(RequestDataTooBig)
def _too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    # A view that reads a body the middleware left alone (not JSON): 413, not Django's 400.
    return too_large()


@api.exception_handler(OperationalError)
def _database_error(request: HttpRequest, exc: OperationalError) -> HttpResponse:
    if database_busy(exc):
        return busy_response(request)
    raise exc  # any other database failure is a 500, as before


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return api.create_response(request, {"detail": exc.errors}, status=422)


def _mount() -> None:

    # Before the runs router: its GET /runs/{run_id} would otherwise take POST /runs/import (405).
    api.add_router("/runs", traces_router)
    api.add_router("/runs", runs_router)
    api.add_router("/threads", threads_router)
    api.add_router("/agents", agents_router)
    api.add_router("/approvals", approvals_router)
    api.add_router("/queues", queues_router)
    api.add_router("/prompts", prompts_router)
    api.add_router("/prompts", prompt_regression_router)
    api.add_router("/dead-letters", dead_letters_router)


_mount()
