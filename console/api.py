"""One NinjaAPI; each app mounts its router. Errors are JSON {"detail": ...}."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError

from console.auth import api_auth
from console.errors import StewardError

api = NinjaAPI(
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


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return api.create_response(request, {"detail": exc.errors}, status=422)


def _mount() -> None:
    from agents.api import router as runs_router
    from agents.prompt_regression_api import router as prompt_regression_router
    from agents.prompts_api import router as prompts_router
    from approvals.api import router as approvals_router
    from approvals.queues_api import router as queues_router
    from traces.api import router as traces_router
    from traces.api import threads_router

    # Before the runs router: its GET /runs/{run_id} would otherwise take POST /runs/import (405).
    api.add_router("/runs", traces_router)
    api.add_router("/runs", runs_router)
    api.add_router("/threads", threads_router)
    api.add_router("/approvals", approvals_router)
    api.add_router("/queues", queues_router)
    api.add_router("/prompts", prompts_router)
    api.add_router("/prompts", prompt_regression_router)


_mount()
