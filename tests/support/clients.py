"""The two ways tests talk to the console in-process: a browser-like client with a session, and
a JSON client with a real API key."""

from __future__ import annotations

import json
import uuid
from typing import Any, Protocol

from django.contrib.auth.models import User
from django.test import Client

from console.kernel.models import ApiKey


def logged_in(user: User | None, enforce_csrf: bool = False) -> Client:
    """A browser-like test client with `user`'s session (anonymous for None)."""
    client = Client(enforce_csrf_checks=enforce_csrf)
    if user is not None:
        client.force_login(user)
    return client


class ClientFor(Protocol):
    """The type of the `client_for` fixture (`logged_in`)."""

    def __call__(self, user: User | None, enforce_csrf: bool = False) -> Client: ...


class ApiClient:
    """A JSON client that authenticates with a real API key, the way programs do."""

    def __init__(self, user: User | None) -> None:
        self.client = Client()
        self.headers: dict[str, str] = {}
        if user is not None:
            _, raw = ApiKey.issue(user)
            self.headers["Authorization"] = f"Bearer {raw}"

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params, headers=self.headers)

    def post(self, path: str, body: Any = None, raw: str | None = None) -> Any:
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return self.client.post(path, data, content_type="application/json", headers=self.headers)


def start_refund(client: ApiClient, amount: float = 250) -> uuid.UUID:
    """Start a refund on a fresh order through `POST /api/runs`, as the client's user; the run's id."""
    order = f"C-{uuid.uuid4().hex[:12]}"
    response = client.post("/api/runs", {"agent": "refund", "input": {"order_id": order, "amount": amount, "reason": "late"}})
    assert response.status_code == 201, response.content
    return uuid.UUID(response.json()["id"])
