"""The OpenAPI document describes the public API."""

from __future__ import annotations

from typing import Any

from django.test import Client


def openapi() -> dict[str, Any]:
    response = Client().get("/api/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_openapi_lists_runs_and_decisions(db: None) -> None:
    """GET /api/openapi.json is 200 and lists /api/runs and the decision endpoint."""
    paths = openapi()["paths"]
    assert "/api/runs" in paths
    assert {"get", "post"} <= set(paths["/api/runs"])
    assert "/api/approvals/{approval_id}/decision" in paths
    assert "post" in paths["/api/approvals/{approval_id}/decision"]


def test_openapi_documents_error_responses(db: None) -> None:
    """The decision endpoint documents its error statuses, and the API names a Bearer scheme."""
    document = openapi()
    responses = document["paths"]["/api/approvals/{approval_id}/decision"]["post"]["responses"]
    assert {"200", "401", "403", "404", "409", "422"} <= set(responses)
    schemes = document["components"]["securitySchemes"].values()
    assert any(scheme.get("scheme") == "bearer" for scheme in schemes)
