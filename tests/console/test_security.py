"""Hardening: the Content-Security-Policy and security headers, no inline script on any page,
htmx unable to act on model output, websocket origins, and `check --deploy` in production."""

from __future__ import annotations

import json
import re
import secrets
import string
import subprocess
import sys
from http.cookies import SimpleCookie
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from agents.engine import runtime
from agents.engine.services import start_run
from approvals.models import ApprovalRequest, Webhook
from console.kernel.security import DEFAULT_POLICY
from tests.support.clients import ClientFor
from tests.support.processes import ROOT, fresh_django, fresh_env
from traces.inspection.replay import replay


def directives(policy: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in (p.strip() for p in policy.split(";")) if part}


@pytest.mark.django_db
def test_pages_carry_the_csp_and_the_security_headers(engineer: User, client_for: ClientFor) -> None:
    response = client_for(engineer).get("/runs/")
    assert response.status_code == 200
    csp = directives(response["Content-Security-Policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert (
        csp["object-src"] == ["'none'"]
        and csp["frame-ancestors"] == ["'none'"]
        and csp["base-uri"] == ["'none'"]
    )
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    # The login page and the API answer with them too.
    for path in ("/login/", "/api/runs"):
        other = Client().get(path)
        assert other["Content-Security-Policy"] == response["Content-Security-Policy"]
        assert other["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_steward_csp_replaces_the_policy(engineer: User, settings: Any, client_for: ClientFor) -> None:
    settings.STEWARD_CSP = "default-src 'self'; report-uri /csp"
    assert (
        client_for(engineer).get("/runs/")["Content-Security-Policy"] == "default-src 'self'; report-uri /csp"
    )
    settings.STEWARD_CSP = ""
    assert client_for(engineer).get("/runs/")["Content-Security-Policy"] == DEFAULT_POLICY


@pytest.mark.django_db
def test_signed_in_pages_are_not_stored_by_browsers_or_proxies(engineer: User, client_for: ClientFor) -> None:
    """A signed-in page (runs, inputs, a new API key shown once) must not be kept in a browser's
    or a shared cache for the next person at the machine: Cache-Control: no-store."""
    client = client_for(engineer)
    for response in (
        client.get("/runs/"),
        client.get("/keys/"),
        client.post("/keys/", {"name": "laptop"}),
        client.get("/approvals/"),  # the 403 page is a signed-in page too
    ):
        assert response["Content-Type"].startswith("text/html")
        assert "no-store" in response.get("Cache-Control", ""), (response.status_code, response.get("Cache-Control"))
        assert "private" in response["Cache-Control"]


INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)


def assert_no_inline_script(path: str, html: str) -> None:
    """Every <script> loads a file of ours or is a JSON data block; no on*= handler, no javascript: URL."""
    for attrs in re.findall(r"<script\b([^>]*)>", html, re.I):
        assert re.search(r'\bsrc="/static/', attrs) or 'type="application/json"' in attrs, (path, attrs)
    assert not INLINE_HANDLER.search(html), (path, INLINE_HANDLER.search(html))
    assert "javascript:" not in html.lower(), path


@pytest.mark.django_db(transaction=True)
def test_no_page_has_an_inline_script(admin_user: User, engineer: User, reviewer: User, client_for: ClientFor) -> None:
    """The pages with charts, the graph, the diff, approvals, queues and webhooks included."""
    run = start_run("refund", {"order_id": "S-1", "amount": 250, "reason": "x"}, engineer)
    assert runtime.execute(run.id) == "waiting"
    approval = ApprovalRequest.objects.get(run=run)
    other = start_run("stock_check", {"sku": "BROKEN-1"}, engineer)
    assert runtime.execute(other.id) == "failed"
    other.refresh_from_db()
    copy = replay(other, engineer, mode="recorded")
    runtime.execute(copy.id)
    webhook = Webhook.objects.create(name="hook", url="https://example.com/hook", queue=approval.queue)
    pages = [
        "/",
        "/runs/",
        f"/runs/{run.id}/",
        f"/runs/{run.id}/graph",
        f"/runs/{run.id}/checkpoints",
        f"/runs/{other.id}/diff/{copy.id}/",
        "/approvals/",
        f"/approvals/{approval.id}/",
        "/queues/",
        f"/queues/{approval.queue.name}/analytics",
        f"/queues/{approval.queue.name}/webhooks/{webhook.id}/",
        "/keys/",
        "/prompts/",
        "/agents/refund/start",
    ]
    client = client_for(admin_user)
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        assert_no_inline_script(path, response.content.decode())
    assert_no_inline_script("/login/", Client().get("/login/").content.decode())
    assert_no_inline_script("/api/docs", client.get("/api/docs").content.decode())


@pytest.mark.django_db
def test_htmx_may_not_eval_run_scripts_or_leave_the_origin(engineer: User, client_for: ClientFor) -> None:
    """The htmx-config meta tag: model output in a swapped fragment can neither run code nor make
    htmx call another origin; htmx injects no <style> (the CSP)."""
    html = client_for(engineer).get("/runs/").content.decode()
    meta = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", html)
    assert meta, "htmx-config meta tag missing"
    assert json.loads(meta.group(1)) == {
        "allowEval": False,
        "allowScriptTags": False,
        "selfRequestsOnly": True,
        "includeIndicatorStyles": False,
    }
    head = html[: html.index("</head>")]
    assert head.index('name="htmx-config"') < head.index("htmx.min.js")


@pytest.mark.django_db
def test_rotate_secret_still_asks_first(admin_user: User, client_for: ClientFor) -> None:
    """The confirmation moved from an inline onsubmit to data-confirm, handled by steward.js."""
    from approvals.models import Queue

    queue = Queue.objects.get_or_create(name="payments")[0]
    webhook = Webhook.objects.create(name="hook", url="https://example.com/hook", queue=queue)
    html = client_for(admin_user).get(f"/queues/{queue.name}/webhooks/{webhook.id}/").content.decode()
    assert 'data-confirm="Rotate the secret? Receivers must switch to the new one."' in html
    assert "form.dataset.confirm" in (ROOT / "static/console/steward.js").read_text()


def _websocket_connects(origin: bytes, cookie: str) -> bool:
    from console.asgi import application

    async def attempt() -> bool:
        communicator = WebsocketCommunicator(
            application,
            "/ws/live/?subscribe=approvals",
            headers=[(b"origin", origin), (b"cookie", cookie.encode())],
        )
        connected, _ = await communicator.connect()
        await communicator.disconnect()
        return bool(connected)

    return bool(async_to_sync(attempt)())


@pytest.mark.django_db(transaction=True)
def test_the_live_websocket_refuses_other_origins(reviewer: User, client_for: ClientFor) -> None:
    """Channels' AllowedHostsOriginValidator wraps the websocket router: the same logged-in
    session connects from the console's own origin, never from another site's page."""
    client = client_for(reviewer)
    cookie = SimpleCookie()
    cookie[settings.SESSION_COOKIE_NAME] = client.cookies[settings.SESSION_COOKIE_NAME].value
    header = cookie.output(header="", attrs=[]).strip()
    assert _websocket_connects(b"http://localhost", header)
    assert not _websocket_connects(b"https://evil.example", header)
    assert not _websocket_connects(b"http://localhost.evil.example", header)


def _production_env(**extra: str) -> dict[str, str]:
    # The process environment minus what the tests set for themselves (the browser tests allow
    # async-unsafe ORM calls, which `check --deploy` rightly reports).
    key = "".join(secrets.choice(string.ascii_letters + string.digits + "!@#%^&*(-_=+)") for _ in range(50))
    return fresh_env(
        without=("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE", "STEWARD_CSP"),
        DEBUG="false",
        SECRET_KEY=key,
        ALLOWED_HOSTS="console.example.com",
        # docs/production.md sets it: /metrics is open to anyone without it (a test may override it).
        **{"METRICS_TOKEN": secrets.token_urlsafe(24), **extra},
    )


def test_check_deploy_reports_nothing_in_production() -> None:
    """DEBUG=false, a real SECRET_KEY and ALLOWED_HOSTS: `check --deploy --fail-level WARNING` is clean."""
    result = fresh_django("manage.py", "check", "--deploy", "--fail-level", "WARNING", env=_production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def _check_deploy(**extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_production_env(**extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_behind_a_proxy_that_redirects_as_documented() -> None:
    """docs/production.md: a proxy that terminates TLS and redirects itself is configured with
    SECURE_PROXY_SSL_HEADER (saying TLS ends at the proxy) and SECURE_SSL_REDIRECT=false; Django's
    security.W008 (no redirect) made that documented configuration fail the check."""
    result = _check_deploy(SECURE_SSL_REDIRECT="false", SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout


def test_check_deploy_still_warns_when_nothing_says_https_is_anywhere() -> None:
    """SECURE_SSL_REDIRECT=false without SECURE_PROXY_SSL_HEADER: W008 is not silenced."""
    result = _check_deploy(SECURE_SSL_REDIRECT="false")
    assert result.returncode != 0
    assert "security.W008" in result.stdout + result.stderr


def test_check_deploy_warns_when_metrics_are_open_to_anyone(settings: Any) -> None:
    """An empty METRICS_TOKEN leaves /metrics open: a deploy-tagged warning, steward.W002."""
    from django.core import checks

    settings.METRICS_TOKEN = ""
    deploy = [m for m in checks.run_checks(include_deployment_checks=True) if m.id == "steward.W002"]
    assert len(deploy) == 1 and deploy[0].level == checks.WARNING
    assert "METRICS_TOKEN" in deploy[0].msg and "/metrics" in deploy[0].msg
    # A deployment check only: `manage.py check` while developing stays quiet about it.
    assert "steward.W002" not in [m.id for m in checks.run_checks(include_deployment_checks=False)]
    settings.METRICS_TOKEN = "a-token"
    assert "steward.W002" not in [m.id for m in checks.run_checks(include_deployment_checks=True)]


def test_check_deploy_fails_on_an_empty_metrics_token() -> None:
    result = _check_deploy(METRICS_TOKEN="")
    assert result.returncode != 0
    assert "steward.W002" in result.stdout + result.stderr


PRODUCTION_REQUESTS = """
import django
django.setup()
from django.conf import settings
from django.test import Client
c = Client(HTTP_HOST="console.example.com")
page, health = c.get("/login/"), c.get("/healthz")
print(page.status_code, page.get("Location"), health.status_code)
secure = Client(HTTP_HOST="console.example.com", HTTP_X_FORWARDED_PROTO="https").get("/login/")
print(secure.status_code, secure.get("Strict-Transport-Security"))
print(settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE)
"""


def test_production_redirects_to_https_except_probes_and_trusts_a_named_proxy_header() -> None:
    result = fresh_django("-c", PRODUCTION_REQUESTS, env=_production_env(SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto"))
    assert result.returncode == 0, result.stderr
    plain, secure, cookies = result.stdout.strip().splitlines()
    assert plain == "301 https://console.example.com/login/ 200"
    assert secure == "200 max-age=31536000; includeSubDomains; preload"
    assert cookies == "True True"
    # Behind a proxy that redirects already: SECURE_SSL_REDIRECT=false; cookies stay Secure.
    result = fresh_django("-c", PRODUCTION_REQUESTS, env=_production_env(SECURE_SSL_REDIRECT="false"))
    plain, _, cookies = result.stdout.strip().splitlines()
    assert plain == "200 None 200" and cookies == "True True"
