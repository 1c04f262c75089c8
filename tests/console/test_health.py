"""Health checks: /healthz says the process is up, /readyz that its dependencies answer."""

from __future__ import annotations

from django.test import Client


def test_healthz_is_ok_without_login() -> None:
    """GET /healthz is 200 {"status": "ok"} for an anonymous caller, without touching the database."""
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_only_answers_get() -> None:
    """POST /healthz is 405: it is a read-only probe."""
    assert Client().post("/healthz").status_code == 405


def test_readyz_checks_database_broker_and_checkpointer(db: None) -> None:
    """GET /readyz without login is 200 "ready" with the database, broker and checkpointer all ok."""
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "broker", "checkpointer"}
    for name, check in body["checks"].items():
        assert check["ok"] is True, (name, check)
        assert check["ms"] >= 0
