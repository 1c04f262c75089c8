"""CORS on `/langgraph/` (console/langgraph_api/cors.py): off by default; with
STEWARD_LANGGRAPH_CORS_ORIGINS set, a listed origin's preflight is answered and its responses
are readable, an unlisted origin gets no CORS headers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from console.kernel.models import ApiKey
from console.settings import env_origins

pytestmark = [pytest.mark.django_db, pytest.mark.postgres, pytest.mark.redis]

INBOX = "https://inbox.example.com"
CORS_HEADERS = (
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Max-Age",
    "Access-Control-Expose-Headers",
)


def _preflight(origin: str, path: str = "/langgraph/assistants/search") -> Any:
    return Client().options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-api-key",
        },
    )


def _search(origin: str, key: str) -> Any:
    return Client().post(
        "/langgraph/assistants/search",
        data={"limit": 5},
        content_type="application/json",
        headers={"Origin": origin, "x-api-key": key},
    )


def _no_cors(response: Any) -> None:
    assert [h for h in CORS_HEADERS if h in response.headers] == []


def test_cors_is_off_by_default(engineer: Any) -> None:
    preflight = _preflight(INBOX)
    assert preflight.status_code != 204
    _no_cors(preflight)
    actual = _search(INBOX, ApiKey.issue(engineer)[1])
    assert actual.status_code == 200
    _no_cors(actual)
    assert "Origin" not in actual.headers.get("Vary", "")


def test_a_listed_origins_preflight_is_answered_without_a_key(settings: Any) -> None:
    settings.STEWARD_LANGGRAPH_CORS_ORIGINS = ["http://localhost:3000", INBOX]
    response = _preflight(INBOX)
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == INBOX
    assert {"POST", "GET", "PATCH", "DELETE"} <= {m.strip() for m in response["Access-Control-Allow-Methods"].split(",")}
    allowed = {h.strip() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert {"x-api-key", "authorization", "content-type", "last-event-id"} <= allowed
    assert int(response["Access-Control-Max-Age"]) > 0
    assert "Origin" in response["Vary"]
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_a_listed_origin_reads_responses_errors_included(settings: Any, engineer: Any) -> None:
    settings.STEWARD_LANGGRAPH_CORS_ORIGINS = [INBOX]
    response = _search(INBOX, ApiKey.issue(engineer)[1])
    assert response.status_code == 200
    assert isinstance(response.json(), list)
    assert response["Access-Control-Allow-Origin"] == INBOX
    assert {h.strip() for h in response["Access-Control-Expose-Headers"].split(",")} == {"Content-Location", "Location"}
    assert "Origin" in response["Vary"]
    # A 401 is readable too: the page can tell its user the key is wrong.
    refused = _search(INBOX, "not-a-key")
    assert refused.status_code == 401
    assert refused["Access-Control-Allow-Origin"] == INBOX


def test_an_unlisted_origin_gets_no_cors_headers(settings: Any, engineer: Any) -> None:
    settings.STEWARD_LANGGRAPH_CORS_ORIGINS = [INBOX]
    for origin in ("https://evil.example.com", "https://inbox.example.com.evil.net", "null"):
        preflight = _preflight(origin)
        assert preflight.status_code != 204
        _no_cors(preflight)
        actual = _search(origin, ApiKey.issue(engineer)[1])
        _no_cors(actual)
        # The cache key still varies by origin.
        assert "Origin" in actual["Vary"]


def test_cors_stays_on_langgraph(settings: Any, engineer: Any) -> None:
    settings.STEWARD_LANGGRAPH_CORS_ORIGINS = [INBOX]
    _no_cors(_preflight(INBOX, "/api/runs"))
    _no_cors(Client().get("/api/runs", headers={"Origin": INBOX, "Authorization": f"Bearer {ApiKey.issue(engineer)[1]}"}))


def test_origins_setting_is_parsed_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_ORIGINS", " https://Inbox.example.com/ ,http://localhost:3000,, ")
    assert env_origins("X_ORIGINS") == ["https://inbox.example.com", "http://localhost:3000"]
    monkeypatch.delenv("X_ORIGINS")
    assert env_origins("X_ORIGINS") == []
    for bad in ("*", "inbox.example.com", "https://inbox.example.com/app", "ftp://x", "https://*.example.com"):
        monkeypatch.setenv("X_ORIGINS", bad)
        with pytest.raises(ImproperlyConfigured, match="is not an origin"):
            env_origins("X_ORIGINS")


@pytest.fixture
def inbox_allowed(settings: Any) -> None:
    """CORS on for INBOX in the daphne server of `sdk_url` (ask for it before `sdk_url`)."""
    settings.STEWARD_LANGGRAPH_CORS_ORIGINS = [INBOX]


@pytest.mark.django_db(transaction=True)
def test_streams_and_waits_under_daphne_carry_cors_headers(
    inbox_allowed: None, sdk_url: str, key_of: Any, engineer: Any
) -> None:
    headers = {"Origin": INBOX, "x-api-key": key_of(engineer)}
    body = {"assistant_id": "lg_plain", "input": {"topic": "tea"}}
    with httpx.stream("POST", f"{sdk_url}/runs/stream", headers=headers, json=body, timeout=60) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["access-control-allow-origin"] == INBOX
        assert "Content-Location" in stream.headers["access-control-expose-headers"]
        assert "/runs/" in stream.headers["content-location"]
        events = [line for line in stream.iter_lines() if line.startswith("event:")]
    assert events[-1] != "event: error", events

    waited = httpx.post(f"{sdk_url}/runs/wait", headers=headers, json=body, timeout=60)
    assert waited.status_code == 200
    assert waited.headers["access-control-allow-origin"] == INBOX
    assert "/runs/" in waited.headers["content-location"]

    other = httpx.post(
        f"{sdk_url}/runs/wait", headers={**headers, "Origin": "https://evil.example.com"}, json=body, timeout=60
    )
    assert other.status_code == 200
    assert "access-control-allow-origin" not in other.headers
