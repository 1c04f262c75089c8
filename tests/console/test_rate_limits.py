"""Per-user rate limits on run starts and decisions (console/kernel/ratelimit.py).

The limit is set low with override_settings; the counters are the real ones (Redis when the
tests have it, as in production; the process-local fallback of the embedded mode in its own
test). Every test starts from empty counters.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import override_settings

from agents.engine.models import Run
from approvals.models import ApprovalRequest
from console.kernel import ratelimit
from tests.support.clients import ApiClient, ClientFor
from tests.support.processes import fresh_django, server_env
from tests.support.runs import waiting_refund
from tests.support.users import make_user

pytestmark = pytest.mark.django_db

LIMIT = 3


@pytest.fixture(autouse=True)
def _fresh_counters() -> Iterator[None]:
    ratelimit.clear()
    with override_settings(STEWARD_RATE_LIMIT_PER_MINUTE=LIMIT):
        yield
    ratelimit.clear()


def refund_body() -> dict[str, Any]:
    return {
        "agent": "refund",
        "input": {"order_id": f"R-{uuid.uuid4().hex[:8]}", "amount": 50, "reason": "x"},
    }


def test_the_start_over_the_limit_is_429_with_retry_after_and_starts_nothing(
    engineer: User, api: Callable[..., ApiClient]
) -> None:
    client = api(engineer)
    for _ in range(LIMIT):
        assert client.post("/api/runs", refund_body()).status_code == 201
    response = client.post("/api/runs", refund_body())
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response.json()["detail"] == (
        f"too many run starts: at most {LIMIT} a minute; try again in {response['Retry-After']} s"
    )
    assert Run.objects.filter(created_by=engineer).count() == LIMIT


def test_another_user_is_not_affected(engineer: User, api: Callable[..., ApiClient]) -> None:
    for _ in range(LIMIT + 1):
        api(engineer).post("/api/runs", refund_body())
    other = make_user("engineer2", "engineers")
    assert api(other).post("/api/runs", refund_body()).status_code == 201


def test_one_budget_per_user_across_keys_and_the_session(
    engineer: User, api: Callable[..., ApiClient], client_for: ClientFor
) -> None:
    """Two API keys and the start form of the same person share one budget."""
    assert api(engineer).post("/api/runs", refund_body()).status_code == 201
    assert api(engineer).post("/api/runs", refund_body()).status_code == 201
    page = client_for(engineer)
    response = page.post("/agents/refund/start", {"order_id": "P-1", "amount": "50", "reason": "x"})
    assert response.status_code == 302
    response = page.post("/agents/refund/start", {"order_id": "P-2", "amount": "50", "reason": "x"})
    assert response.status_code == 429


def test_reads_are_never_limited(engineer: User, api: Callable[..., ApiClient], client_for: ClientFor) -> None:
    client = api(engineer)
    for _ in range(LIMIT + 1):
        client.post("/api/runs", refund_body())
    run = Run.objects.filter(created_by=engineer).first()
    assert run is not None
    page = client_for(engineer)
    for _ in range(LIMIT * 3):
        assert client.get("/api/runs").status_code == 200
        assert client.get(f"/api/runs/{run.id}").status_code == 200
        assert page.get("/runs/").status_code == 200
        assert page.get("/agents/refund/start").status_code == 200


def test_the_page_form_over_the_limit_gets_a_readable_page(engineer: User, client_for: ClientFor) -> None:
    client = client_for(engineer)
    for i in range(LIMIT):
        response = client.post("/agents/refund/start", {"order_id": f"P-{i}", "amount": "50", "reason": "x"})
        assert response.status_code == 302
    response = client.post("/agents/refund/start", {"order_id": "P-9", "amount": "50", "reason": "x"})
    assert response.status_code == 429
    assert response["Content-Type"].startswith("text/html")
    assert 1 <= int(response["Retry-After"]) <= 60
    html = response.content.decode()
    assert "<h1>Too many requests</h1>" in html and f"at most {LIMIT} a minute" in html
    assert Run.objects.filter(created_by=engineer).count() == LIMIT
    # htmx gets the fragment alone.
    fragment = client.post("/agents/refund/start", {"order_id": "P-9"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 429 and fragment["Retry-After"]
    assert fragment.content.decode().startswith('<p class="flash error" role="alert" id="rate-limited">')
    assert "<html" not in fragment.content.decode()


@pytest.mark.django_db(transaction=True)
def test_decisions_have_their_own_budget(
    engineer: User, reviewer: User, api: Callable[..., ApiClient], client_for: ClientFor
) -> None:
    """Decisions over the limit are 429 and decide nothing; spending the start budget does not
    touch the decision budget, and the other way round."""
    requests = [waiting_refund(engineer)[1] for _ in range(LIMIT + 1)]
    for _ in range(LIMIT):
        api(engineer).post("/api/runs", refund_body())
    assert api(engineer).post("/api/runs", refund_body()).status_code == 429
    client = api(reviewer)
    for approval in requests[:LIMIT]:
        response = client.post(f"/api/approvals/{approval.id}/decision", {"decision": "approve"})
        assert response.status_code == 200, response.content
    last = requests[LIMIT]
    response = client.post(f"/api/approvals/{last.id}/decision", {"decision": "approve"})
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1
    assert "too many decisions" in response.json()["detail"]
    last.refresh_from_db()
    assert last.status == ApprovalRequest.Status.PENDING
    # The bulk endpoint and the page form spend the same decision budget.
    assert (
        client.post(
            "/api/approvals/bulk-decision", {"ids": [str(last.id)], "decision": "approve"}
        ).status_code
        == 429
    )
    assert (
        client_for(reviewer).post(f"/approvals/{last.id}/decide", {"decision": "approve"}).status_code == 429
    )
    last.refresh_from_db()
    assert last.status == ApprovalRequest.Status.PENDING


def test_replay_and_retry_spend_the_start_budget(engineer: User, api: Callable[..., ApiClient], client_for: ClientFor) -> None:
    client = api(engineer)
    for _ in range(LIMIT):
        client.post("/api/runs", refund_body())
    run = Run.objects.filter(created_by=engineer).first()
    assert run is not None
    assert client.post(f"/api/runs/{run.id}/replay", {"mode": "recorded"}).status_code == 429
    assert client.post(f"/api/runs/{run.id}/retry").status_code == 429
    assert client_for(engineer).post(f"/runs/{run.id}/replay", {"mode": "recorded"}).status_code == 429


def test_unauthenticated_requests_are_not_counted_and_still_get_401(
    engineer: User, api: Callable[..., ApiClient]
) -> None:
    anonymous = api(None)
    for _ in range(LIMIT + 2):
        assert anonymous.post("/api/runs", refund_body()).status_code == 401
    bad_key = api(None)
    bad_key.headers["Authorization"] = "Bearer stw_not-a-key"
    assert bad_key.post("/api/runs", refund_body()).status_code == 401
    assert api(engineer).post("/api/runs", refund_body()).status_code == 201


def test_zero_turns_the_limit_off(engineer: User, api: Callable[..., ApiClient]) -> None:
    with override_settings(STEWARD_RATE_LIMIT_PER_MINUTE=0):
        for _ in range(LIMIT + 2):
            assert api(engineer).post("/api/runs", refund_body()).status_code == 201


def test_every_limited_name_is_a_real_url() -> None:
    """A renamed view would silently escape the limit: each name in LIMITED must resolve."""
    from django.urls import get_resolver

    names: set[str] = set()

    def walk(resolver: Any, namespace: str = "") -> None:
        for pattern in resolver.url_patterns:
            if hasattr(pattern, "url_patterns"):
                walk(pattern, f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace)
            elif pattern.name:
                names.add(namespace + pattern.name)

    walk(get_resolver())
    assert set(ratelimit.LIMITED) <= names, set(ratelimit.LIMITED) - names


def test_embedded_mode_counts_in_the_process(engineer: User, api: Callable[..., ApiClient]) -> None:
    """Without Redis (the embedded server: one process) the counters live in memory."""
    with override_settings(CHANNEL_LAYER_URL="", CELERY_BROKER_URL="memory://localhost/"):
        ratelimit.clear()
        for _ in range(LIMIT):
            assert ratelimit.hit("start", engineer.pk, LIMIT) == 0
        wait = ratelimit.hit("start", engineer.pk, LIMIT)
        assert 59 < wait <= 60
        assert ratelimit.hit("start", engineer.pk + 1, LIMIT) == 0
        ratelimit.clear()


@pytest.mark.redis
def test_the_count_is_shared_by_every_process(engineer: User, api: Callable[..., ApiClient]) -> None:
    """Another process (another web server) spends the user's budget in Redis; this one refuses."""
    assert settings.CHANNEL_LAYER_URL.startswith("redis://")
    code = (
        "import django; django.setup()\n"
        "from console.kernel import ratelimit\n"
        f"print([ratelimit.hit('start', {engineer.pk}, {LIMIT}) for _ in range({LIMIT})])\n"
    )
    out = fresh_django("-c", code, env=server_env(), timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str([0.0] * LIMIT)
    response = api(engineer).post("/api/runs", refund_body())
    assert response.status_code == 429
