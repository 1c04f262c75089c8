"""The runs list's filters, search, sorting and keyset pagination (API and page), on real rows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents.engine.models import Agent, Run
from agents.engine.registry import sync_agents
from agents.prompt_admin import services as prompt_services
from agents.prompts import pins_for_new_run, save_pins
from approvals.models import ApprovalRequest, Queue
from tests.support.users import make_user
from traces.recording.models import Span

pytestmark = pytest.mark.django_db


@pytest.fixture
def runs(engineer: Any) -> dict[str, Run]:
    sync_agents()
    refund, stock = Agent.objects.get(key="refund"), Agent.objects.get(key="stock_check")
    other = make_user("someone", "engineers")
    now = timezone.now()

    def run(name: str, agent: Agent, minutes_ago: int, **fields: Any) -> Run:
        return Run.objects.create(agent=agent, thread_id=name, created_at=now - timedelta(minutes=minutes_ago), **fields)

    made = {
        "cheap": run("cheap", refund, 50, status="succeeded", cost=0.001, latency_ms=100, created_by=engineer,
                     input={"order_id": "A-1", "reason": "parcel arrived crushed"}, output={"answer": "refunded"},
                     metadata={"tags": ["vip"], "channel": "email"}),
        "pricey": run("pricey", refund, 40, status="succeeded", cost=0.5, latency_ms=9000, created_by=other,
                      input={"order_id": "A-2", "reason": "late"}, metadata={"channel": "chat"}),
        "broken": run("broken", stock, 30, status="failed", error="InventoryServiceError: 503 upstream timeout",
                      latency_ms=20, created_by=engineer, input={"sku": "BROKEN-1"}),
        "waiting": run("waiting", refund, 20, status="waiting", input={"order_id": "A-3", "reason": "wrong size"}),
        "old": run("old", stock, 60 * 24 * 3, status="succeeded", input={"sku": "SKU-9"}),
    }
    ApprovalRequest.objects.create(queue=Queue.objects.get(name="payments"), run=made["waiting"], action="issue_refund")
    Span.objects.create(run=made["pricey"], seq=0, kind="model", name="gpt-4o", model="gpt-4o", status="ok", started_at=now)
    return made


def ids(response: Any) -> set[str]:
    assert response.status_code == 200, response.content
    return {item["thread_id"] for item in response.json()["items"]}


def test_each_filter_narrows_the_list(runs: dict[str, Run], engineer: Any, api: Any) -> None:
    """Status, agent, time range, tags and metadata, errors, cost and duration, who started it,
    waiting for approval and model each select exactly the matching runs."""
    client = api(engineer)
    since = (timezone.now() - timedelta(hours=2)).isoformat()
    assert ids(client.get("/api/runs", status="failed")) == {"broken"}
    assert ids(client.get("/api/runs", agent="stock_check")) == {"broken", "old"}
    assert ids(client.get("/api/runs", since=since)) == {"cheap", "pricey", "broken", "waiting"}
    assert ids(client.get("/api/runs", until=since)) == {"old"}
    assert ids(client.get("/api/runs", tag="vip")) == {"cheap"}
    assert ids(client.get("/api/runs", meta="channel=chat")) == {"pricey"}
    assert ids(client.get("/api/runs", has_error="true")) == {"broken"}
    assert ids(client.get("/api/runs", cost_min="0.1")) == {"pricey"}
    assert ids(client.get("/api/runs", duration_min="50", duration_max="500")) == {"cheap"}
    assert ids(client.get("/api/runs", started_by="someone")) == {"pricey"}
    assert ids(client.get("/api/runs", waiting_approval="true")) == {"waiting"}
    assert ids(client.get("/api/runs", model="gpt-4o")) == {"pricey"}
    assert ids(client.get("/api/runs", agent="refund", started_by="engineer")) == {"cheap"}


def test_search_covers_input_output_and_error(runs: dict[str, Run], engineer: Any, api: Any) -> None:
    """q finds words in inputs, outputs and error messages (full-text on Postgres)."""
    client = api(engineer)
    assert ids(client.get("/api/runs", q="crushed")) == {"cheap"}
    assert ids(client.get("/api/runs", q="refunded")) == {"cheap"}
    assert ids(client.get("/api/runs", q="timeout")) == {"broken"}
    assert ids(client.get("/api/runs", q="nothing-like-this")) == set()


def test_sort_and_keyset_pages(runs: dict[str, Run], engineer: Any, api: Any) -> None:
    """Sorted by cost, two at a time: every run once, in order, then no cursor."""
    client = api(engineer)
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params = {"sort": "-cost", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/runs", **params).json()
        seen += [item["thread_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    costs = {r.thread_id: r.cost for r in runs.values()}
    assert sorted(seen) == sorted(costs) and [costs[n] for n in seen] == sorted(costs.values(), reverse=True)


@pytest.mark.parametrize(
    ("param", "value"),
    [("since", "yesterday"), ("cost_min", "-1"), ("cost_max", "lots"), ("meta", "novalue"), ("has_error", "maybe"),
     ("sort", "random"), ("feedback", "meh"), ("status", "finished"), ("cursor", "zzz"),
     ("prompt", "refund_system@two"), ("prompt", "@2"), ("prompt", "no such/prompt")],
)
def test_malformed_filters_are_422_naming_the_field(runs: dict[str, Run], engineer: Any, api: Any, param: str, value: str) -> None:
    """A bad filter value is a 422 naming the parameter, never a 500."""
    response = api(engineer).get("/api/runs", **{param: value})
    assert response.status_code == 422
    assert ["query", param] in [e["loc"] for e in response.json()["detail"]]


def test_page_keeps_filters_in_the_url_and_explains_bad_ones(runs: dict[str, Run], engineer: Any, client: Any) -> None:
    """The page applies the good filters, ignores a bad one with a message, and links sort and
    next page with the filters kept."""
    client.force_login(engineer)
    page = client.get("/runs/", {"agent": "refund", "cost_min": "lots"})
    html = page.content.decode()
    assert page.status_code == 200
    assert "cost_min: must be a number" in html
    assert html.count('<span class="status succeeded">') == 2 and html.count('<span class="status waiting">') >= 1
    assert "?agent=refund&sort=" in html


@pytest.fixture
def pinned(runs: dict[str, Run], admin_user: Any) -> dict[str, Run]:
    """"cheap" pinned refund_system v1, "pricey" v2 and order_summary_system v1; the rest none."""
    v2 = prompt_services.save_version(
        admin_user, "refund_system",
        template=[{"role": "system", "content": "Refunds for {shop_name}."}, {"role": "placeholder", "name": "history"}],
    )
    for name, overrides in (("cheap", {"refund_system": 1}), ("pricey", {"refund_system": v2.number, "order_summary_system": 1})):
        pins = pins_for_new_run({}, name, overrides=overrides)
        Run.objects.filter(id=runs[name].id).update(prompt_versions=pins)
        save_pins(runs[name].id, pins)
    return runs


def test_the_prompt_filter_selects_runs_by_pinned_prompt_or_version(pinned: dict[str, Run], engineer: Any, api: Any) -> None:
    """prompt=name selects runs that pinned any version of it, prompt=name@N that version only;
    it combines with the other filters."""
    client = api(engineer)
    assert ids(client.get("/api/runs", prompt="refund_system")) == {"cheap", "pricey"}
    assert ids(client.get("/api/runs", prompt="refund_system@1")) == {"cheap"}
    assert ids(client.get("/api/runs", prompt="refund_system@2")) == {"pricey"}
    assert ids(client.get("/api/runs", prompt="refund_system@3")) == set()
    assert ids(client.get("/api/runs", prompt="order_summary_system")) == {"pricey"}
    assert ids(client.get("/api/runs", prompt="no_such_prompt")) == set()
    assert ids(client.get("/api/runs", prompt="refund_system", started_by="engineer")) == {"cheap"}


def test_the_runs_page_shows_pinned_versions_and_filters_by_prompt(pinned: dict[str, Run], engineer: Any, client: Any) -> None:
    """A "prompt" column lists each run's pinned versions (read from the run row: no query per
    row); the page filters by prompt and explains a malformed one."""
    client.force_login(engineer)
    with CaptureQueriesContext(connection) as one_run:
        assert client.get("/runs/", {"status": "failed"}).status_code == 200
    with CaptureQueriesContext(connection) as every_run:
        page = client.get("/runs/")
    assert len(every_run) == len(one_run), "no query per listed run"
    html = page.content.decode()
    assert page.status_code == 200
    assert "<th>Prompt</th>" in html
    assert html.count(">refund_system v1</a>") == 1 and html.count(">refund_system v2</a>") == 1
    assert html.count(">order_summary_system v1</a>") == 1
    assert 'href="?prompt=refund_system%401"' in html, "each pin links to the runs that share it"

    filtered = client.get("/runs/", {"prompt": "refund_system@2"}).content.decode()
    assert filtered.count('class="prompt-pins"') == 1 and ">refund_system v2</a>" in filtered
    assert 'value="refund_system@2"' in filtered, "the filter stays in the form"

    bad = client.get("/runs/", {"prompt": "refund_system@latest"}).content.decode()
    assert "prompt: must be a prompt name or name@version" in bad
    assert bad.count('class="prompt-pins"') == len(pinned), "the bad filter is ignored"



@pytest.mark.parametrize("sort", ["-created", "created", "-cost", "cost", "-steps"])
def test_keyset_pages_walk_ties_once_each(engineer: Any, api: Any, sort: str) -> None:
    """Runs that share the sorted value (same start time, cost and steps) are split over pages by
    id: walking two at a time gives every run exactly once, in the sort's order."""
    sync_agents()
    refund = Agent.objects.get(key="refund")
    when = timezone.now() - timedelta(minutes=5)
    made = [
        Run.objects.create(agent=refund, thread_id=f"tie-{i}", created_at=when if i < 5 else when - timedelta(minutes=i),
                           cost=0.25 if i < 5 else i / 100, steps=3 if i < 5 else i, status="succeeded")
        for i in range(8)
    ]  # fmt: skip
    client = api(engineer)
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page = client.get("/api/runs", sort=sort, limit=2, **({"cursor": cursor} if cursor else {})).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    field, descending = {"-created": ("created_at", True), "created": ("created_at", False), "-cost": ("cost", True),
                         "cost": ("cost", False), "-steps": ("steps", True)}[sort]  # fmt: skip
    expected = sorted(made, key=lambda r: (getattr(r, field), r.id), reverse=descending)
    assert seen == [str(r.id) for r in expected]


def test_an_unknown_agent_or_starter_matches_no_run(runs: dict[str, Run], engineer: Any, api: Any) -> None:
    client = api(engineer)
    assert ids(client.get("/api/runs", agent="no_such_agent")) == set()
    assert ids(client.get("/api/runs", started_by="nobody")) == set()
    assert ids(client.get("/api/runs", agent="stock_check", has_error="true")) == {"broken"}
