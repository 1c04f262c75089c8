"""Limits through the API and the pages: a run's own limits (tighten: anyone; loosen: admins),
bad values as 422 JSON, an admin's per-agent override, the start form and the run page."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from agents.engine import runtime
from agents.engine.models import Run
from console.kernel.models import AuditEvent

# Only the run page test executes a run (the checkpointer reads on its own connection).
pytestmark = pytest.mark.django_db


def _start(client: Any, limits: Any, agent: str = "limited_pause") -> Any:
    return client.post("/api/runs", {"agent": agent, "input": {}, "limits": limits})


def test_a_run_s_own_limits_are_recorded_on_it(api: Any, engineer: Any) -> None:
    response = _start(api(engineer), {"max_steps": 5, "max_cost_usd": 0.5})
    assert response.status_code == 201, response.content
    limits = response.json()["limits"]
    # Its own, over the agent's defaults (limited_pause: max_steps 10, pause).
    assert limits == {
        "max_steps": 5,
        "timeout_seconds": None,
        "node_timeout_seconds": None,
        "max_cost_usd": 0.5,
        "on_breach": "pause",
        "queue": "budget",
        "set_for_run": ["max_cost_usd", "max_steps"],
    }
    assert Run.objects.get(id=response.json()["id"]).limits == limits
    assert response.json()["limit_breaches"] == []


def test_without_limits_a_run_gets_its_agent_s(api: Any, engineer: Any) -> None:
    response = api(engineer).post("/api/runs", {"agent": "limited_pause", "input": {}})
    assert response.status_code == 201
    assert response.json()["limits"]["max_steps"] == 10 and response.json()["limits"]["set_for_run"] == []


@pytest.mark.parametrize(
    "limits, field",
    [
        ({"max_steps": 0}, "max_steps"),
        ({"max_steps": "many"}, "max_steps"),
        ({"max_steps": 2.5}, "max_steps"),
        ({"max_steps": True}, "max_steps"),
        ({"max_cost_usd": "0.5"}, "max_cost_usd"),
        ({"max_cost_usd": -1}, "max_cost_usd"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"node_timeout_seconds": "soon"}, "node_timeout_seconds"),
        ({"max_tokens": 10}, "max_tokens"),
        ({"on_breach": "fail"}, "on_breach"),
    ],
)
def test_bad_limit_values_are_422_json(api: Any, engineer: Any, limits: dict[str, Any], field: str) -> None:
    response = _start(api(engineer), limits)
    assert response.status_code == 422, response.content
    assert response["Content-Type"].startswith("application/json")
    detail = response.json()["detail"]
    assert any(field in [str(p) for p in error["loc"]] and "limits" in [str(p) for p in error["loc"]] for error in detail), detail
    assert not Run.objects.exists()


def test_limits_that_are_not_an_object_are_422(api: Any, engineer: Any) -> None:
    response = _start(api(engineer), "strict")
    assert response.status_code == 422 and isinstance(response.json()["detail"], list)


def test_only_an_admin_may_loosen_the_agent_s_limits(api: Any, engineer: Any, admin_user: Any) -> None:
    eng, adm = api(engineer), api(admin_user)
    for looser in ({"max_steps": 20}, {"max_steps": None}):
        refused = _start(eng, looser)
        assert refused.status_code == 403, refused.content
        assert "only an admin may loosen" in refused.json()["detail"]
    assert not Run.objects.exists()
    assert _start(eng, {"max_steps": 3}).status_code == 201  # tighter: fine
    allowed = _start(adm, {"max_steps": None, "timeout_seconds": 600})
    assert allowed.status_code == 201, allowed.content
    assert allowed.json()["limits"]["max_steps"] is None and allowed.json()["limits"]["timeout_seconds"] == 600


def test_an_admin_sets_an_agent_s_limits(api: Any, engineer: Any, reviewer: Any, admin_user: Any) -> None:
    adm, eng = api(admin_user), api(engineer)
    url = "/api/agents/limited/limits"
    before = api(reviewer).get(url)
    assert before.status_code == 200 and before.json()["limits"]["max_steps"] is None

    assert eng.client.put(url, '{"max_steps": 2}', content_type="application/json", headers=eng.headers).status_code == 403
    bad = adm.client.put(url, '{"on_breach": "explode"}', content_type="application/json", headers=adm.headers)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "on_breach"
    missing = adm.client.put("/api/agents/nope/limits", "{}", content_type="application/json", headers=adm.headers)
    assert missing.status_code == 404

    body = '{"max_steps": 2, "on_breach": "pause"}'
    put = adm.client.put(url, body, content_type="application/json", headers=adm.headers)
    assert put.status_code == 200, put.content
    assert put.json()["limits"]["max_steps"] == 2 and put.json()["limits"]["on_breach"] == "pause"
    assert put.json()["override"] == {"max_steps": 2, "on_breach": "pause"}
    assert put.json()["defaults"]["max_steps"] is None
    [event] = AuditEvent.objects.filter(action="agent.limits_changed")
    assert event.actor == admin_user and event.data["after"] == {"max_steps": 2, "on_breach": "pause"}

    # New runs get them; an engineer may not go past them now.
    started = _start(eng, None, agent="limited")
    assert started.json()["limits"]["max_steps"] == 2 and started.json()["limits"]["on_breach"] == "pause"
    assert _start(eng, {"max_steps": 3}, agent="limited").status_code == 403


def test_the_start_form_takes_limits_and_says_what_is_wrong(engineer: Any) -> None:
    client = Client()
    client.force_login(engineer)
    page = client.get("/agents/limited_pause/start")
    assert page.status_code == 200 and b'placeholder="agent&#x27;s: 10"' in page.content

    bad = client.post("/agents/limited_pause/start", {"topic": "x", "limit_max_steps": "0"})
    assert bad.status_code == 422 and b'id="err_limit_max_steps"' in bad.content
    looser = client.post("/agents/limited_pause/start", {"topic": "x", "limit_max_steps": "50"})
    assert looser.status_code == 403 and b"only an admin may loosen" in looser.content
    assert not Run.objects.exists()

    started = client.post("/agents/limited_pause/start", {"topic": "x", "limit_max_steps": "2", "limit_max_cost_usd": ""})
    assert started.status_code == 302
    run = Run.objects.get()
    assert run.limits["max_steps"] == 2 and run.limits["set_for_run"] == ["max_steps"]


@pytest.mark.django_db(transaction=True)
def test_the_run_page_shows_limits_and_a_breach(engineer: Any) -> None:
    client = Client()
    client.force_login(engineer)
    client.post("/agents/limited/start", {"topic": "x", "limit_max_steps": "2", "limit_timeout_seconds": "60"})
    run = Run.objects.get()
    assert runtime.execute(run.id) == "failed"
    page = client.get(f"/runs/{run.id}/").content.decode()
    assert 'id="run-limits"' in page
    assert "max steps 2 of <strong>2</strong> (this run)" in page
    assert "timeout" in page and "<strong>60 s</strong>" in page
    assert "over a limit: fail" in page
    assert "max steps exceeded: 2 steps done, limit 2; node &#x27;three&#x27; did not start — the run failed" in page
