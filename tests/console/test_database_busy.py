"""A request the database cannot take answers 503 with Retry-After wherever the refusal is raised:
in a view, or in a middleware that loads the session (where Django's own handling would make it a
500). Checked in a fresh process on the production settings with Django's real pool of one
connection, held by the test so that the request's wait for a connection times out."""

from __future__ import annotations

import json

import pytest

from tests.support.processes import fresh_django, server_env

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

HELD_POOL_REQUESTS = """
import json, django
django.setup()
from django.db import connection
from django.test import Client

connection.ensure_connection()
held = connection.connection  # the pool's only connection, never given back during the requests
connection.connection = None
client = Client(raise_request_exception=False)
client.cookies["sessionid"] = "a-session-the-middleware-must-load"
answers = {}
for name, method, path in [
    ("api", "get", "/api/runs"),
    ("page_view", "get", "/runs/"),
    ("page_middleware", "get", "/login/"),
]:
    extra = {"HTTP_X_API_KEY": "sk-unknown"} if name == "api" else {}
    response = getattr(client, method)(path, **extra)
    answers[name] = [response.status_code, response.get("Retry-After"), response.get("Content-Type", "")]
print(json.dumps(answers))
"""


def test_a_refusal_in_a_view_or_a_middleware_is_a_503_with_retry_after() -> None:
    env = server_env(
        STEWARD_DB_CONNECTIONS="1", STEWARD_DB_POOL_TIMEOUT="1", DEBUG="false",
        SECRET_KEY="test-only-" + "x" * 50, ALLOWED_HOSTS="testserver", SECURE_SSL_REDIRECT="false",
    )
    result = fresh_django("-c", HELD_POOL_REQUESTS, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    assert answers["api"][:2] == [503, "2"] and answers["api"][2].startswith("application/json"), answers
    assert answers["page_view"][:2] == [503, "2"] and answers["page_view"][2].startswith("text/html"), answers
    assert answers["page_middleware"][:2] == [503, "2"], answers
