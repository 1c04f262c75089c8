"""The dashboard (the home page): its figures against rows with known timestamps, its links, its
query count, who may see it, and that it loads nothing from elsewhere.

Rows are made directly (runs, spans, approval requests) with fixed `created_at`, `started_at`,
`finished_at` and `decided_at`, so every figure is known in advance. The figures are computed
against a fixed `now`; the page tests use the real clock and check window totals only.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents.engine.models import Agent, Run
from agents.web.run_filters import RunFilters
from approvals.models import ApprovalRequest, Queue
from console.web import dashboard as dash
from tests.support.clients import ClientFor
from traces.recording.models import Span

pytestmark = pytest.mark.django_db

# 12:30 UTC: the 24h window is 2026-03-09 13:00 to the current hour, 2026-03-10 12:00-13:00.
NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
CURRENT_HOUR = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
S = Run.Status


def agent(key: str) -> Agent:
    return Agent.objects.get_or_create(key=key, defaults={"name": key.title()})[0]


def make_run(
    key: str,
    status: str,
    created: datetime,
    seconds: float | None = None,
    tokens: tuple[int, int] = (0, 0),
    cost: float = 0.0,
    error: str = "",
    finished: datetime | None = None,
) -> Run:
    """A run created at `created`, started a second later and (with `seconds`) finished after that."""
    started = created + timedelta(seconds=1)
    if seconds is not None and finished is None:
        finished = started + timedelta(seconds=seconds)
    return Run.objects.create(
        agent=agent(key),
        thread_id=str(uuid.uuid4()),
        status=status,
        created_at=created,
        started_at=started if status != S.QUEUED else None,
        finished_at=finished,
        tokens_in=tokens[0],
        tokens_out=tokens[1],
        cost=cost,
        error=error,
    )


def model_span(
    run: Run, seq: int, model: str, tokens: tuple[int, int], cost: float, kind: str = "model"
) -> Span:
    return Span.objects.create(
        run=run,
        seq=seq,
        kind=kind,
        name=model,
        status="ok",
        started_at=run.created_at + timedelta(seconds=2),
        model=model if kind == "model" else "",
        tokens_in=tokens[0],
        tokens_out=tokens[1],
        cost=cost,
    )


def make_request(
    queue: str, status: str, created: datetime, decided: datetime | None = None
) -> ApprovalRequest:
    return ApprovalRequest.objects.create(
        queue=Queue.objects.get_or_create(name=queue)[0],
        action="refund",
        status=status,
        created_at=created,
        decided_at=decided,
    )


def page_data(response: Any) -> dict[str, Any]:
    """The chart data the page hands its script (json_script)."""
    found = re.search(
        rb'<script id="dashboard-data" type="application/json">(.*?)</script>', response.content, re.S
    )
    assert found, "no dashboard-data on the page"
    return json.loads(found.group(1))


def listed(url: str) -> set[uuid.UUID]:
    """The runs the runs list shows for a dashboard link: the same filters, parsed the same way."""
    parts = urlsplit(url)
    assert parts.path == "/runs/"
    filters = RunFilters.parse(QueryDict(parts.query))
    assert not filters.errors, filters.errors
    return set(filters.apply(Run.objects.all()).values_list("id", flat=True))


@pytest.fixture
def hour_of_runs(db: Any) -> dict[str, Any]:
    """Six finished runs in the current hour (2 failed), one still running, one 3 hours ago,
    one 2 days ago (outside 24h, inside 7d)."""
    base = CURRENT_HOUR + timedelta(minutes=5)
    ok = [make_run("alpha", S.SUCCEEDED, base + timedelta(minutes=i), seconds=i + 1) for i in range(4)]
    failed = [
        make_run("alpha", S.FAILED, base + timedelta(minutes=10), seconds=5, error="ValueError: bad sku"),
        make_run("beta", S.FAILED, base + timedelta(minutes=11), seconds=10, error="Timeout"),
    ]
    running = make_run("beta", S.RUNNING, base + timedelta(minutes=12))
    earlier = make_run(
        "alpha", S.SUCCEEDED, CURRENT_HOUR - timedelta(hours=3) + timedelta(minutes=30), seconds=20
    )
    old = make_run("alpha", S.FAILED, NOW - timedelta(days=2), seconds=1, error="old failure")
    return {"ok": ok, "failed": failed, "running": running, "earlier": earlier, "old": old}


# --- the window --------------------------------------------------------------------------------


def test_the_24h_window_has_24_hourly_buckets_ending_with_the_current_hour(db: Any) -> None:
    """Buckets are whole hours, oldest first; the last is the hour `now` falls in."""
    data = dash.dashboard("24h", now=NOW)
    assert len(data["buckets"]) == 24
    assert data["buckets"][-1]["start"] == CURRENT_HOUR
    assert data["buckets"][-1]["end"] == CURRENT_HOUR + timedelta(hours=1)
    assert data["buckets"][0]["start"] == CURRENT_HOUR - timedelta(hours=23) == data["since"]
    assert data["buckets"][-1]["label"] == "12:00"
    assert all(len(series) == 24 for series in data["series"]["runs_by_status"].values())


@pytest.mark.parametrize(("key", "days"), [("7d", 7), ("30d", 30)])
def test_day_windows_have_one_bucket_per_calendar_day(db: Any, key: str, days: int) -> None:
    """7d and 30d are whole days in the current time zone, today last."""
    data = dash.dashboard(key, now=NOW)
    assert data["unit"] == "day"
    assert len(data["buckets"]) == days
    assert data["buckets"][-1]["start"] == datetime(2026, 3, 10, tzinfo=UTC)
    assert data["buckets"][-1]["label"] == "03-10"
    assert data["since"] == datetime(2026, 3, 10, tzinfo=UTC) - timedelta(days=days - 1)


def test_an_unknown_window_falls_back_to_24h() -> None:
    """?window= with anything else gives the default, never an error."""
    assert dash.get_window("1y").key == dash.get_window(None).key == "24h"
    assert dash.get_window("7d").key == "7d"


# --- runs, errors, durations -------------------------------------------------------------------


def test_runs_per_hour_by_status_and_the_error_rate(hour_of_runs: dict[str, Any]) -> None:
    """6 finished runs in the last hour with 2 failed: an error rate of 1/3; the running run is
    counted as a run but is not in the rate (it has not had the chance to fail yet)."""
    data = dash.dashboard("24h", now=NOW)
    by_status = data["series"]["runs_by_status"]
    assert (by_status["succeeded"][-1], by_status["failed"][-1], by_status["running"][-1]) == (4, 2, 1)
    assert by_status["succeeded"][-4] == 1  # the run 3 hours ago
    assert sum(sum(s) for s in by_status.values()) == 8  # the run 2 days ago is outside
    assert data["series"]["error_rate"][-1] == pytest.approx(1 / 3, abs=1e-4)
    assert data["series"]["error_rate"][-4] == 0
    assert data["series"]["error_rate"][0] is None  # nothing finished: no rate, not 0 %
    runs = data["runs"]
    assert (runs["total"], runs["finished"], runs["failed"]) == (8, 7, 2)
    assert runs["error_rate"] == pytest.approx(2 / 7, abs=1e-4)
    assert runs["by_status"]["running"] == 1


def test_duration_percentiles_per_bucket_and_for_the_window(hour_of_runs: dict[str, Any]) -> None:
    """Durations are finished_at - started_at of finished runs: 1, 2, 3, 4, 5, 10 s this hour
    (p50 3.5, p95 8.75 by interpolation), plus 20 s three hours ago for the window (p50 4, p95 17)."""
    data = dash.dashboard("24h", now=NOW)
    assert data["series"]["p50_seconds"][-1] == pytest.approx(3.5)
    assert data["series"]["p95_seconds"][-1] == pytest.approx(8.75)
    assert data["series"]["p50_seconds"][-4] == data["series"]["p95_seconds"][-4] == pytest.approx(20)
    assert data["series"]["p50_seconds"][0] is None
    assert data["runs"]["p50_seconds"] == pytest.approx(4)
    assert data["runs"]["p95_seconds"] == pytest.approx(17)


def test_python_percentiles_match_the_database(
    hour_of_runs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite the percentiles are interpolated in Python: the same figures, the same query count."""
    make_request("payments", "approved", NOW - timedelta(hours=1), NOW - timedelta(minutes=50))
    make_request("payments", "rejected", NOW - timedelta(hours=1), NOW - timedelta(minutes=30))
    with CaptureQueriesContext(connection) as in_database:
        expected = dash.dashboard("24h", now=NOW)
    monkeypatch.setattr(dash, "_in_database", lambda queryset: False)
    with CaptureQueriesContext(connection) as in_python:
        computed = dash.dashboard("24h", now=NOW)
    assert computed == expected
    assert len(in_python) == len(in_database)


def test_the_7d_window_includes_the_run_of_two_days_ago(hour_of_runs: dict[str, Any]) -> None:
    """A wider window counts older runs, in daily buckets."""
    data = dash.dashboard("7d", now=NOW)
    assert data["runs"]["total"] == 9
    assert data["series"]["runs_by_status"]["failed"][-3] == 1
    assert data["series"]["runs_by_status"]["failed"][-1] == 2


# --- tokens and cost ---------------------------------------------------------------------------


@pytest.fixture
def spend(db: Any) -> dict[str, Run]:
    r1 = make_run("alpha", S.SUCCEEDED, CURRENT_HOUR + timedelta(minutes=5), 2, tokens=(100, 50), cost=0.02)
    r2 = make_run("alpha", S.SUCCEEDED, CURRENT_HOUR - timedelta(minutes=50), 2, tokens=(200, 100), cost=0.05)
    r3 = make_run("beta", S.FAILED, CURRENT_HOUR + timedelta(minutes=20), 2, tokens=(10, 5), cost=0.001)
    model_span(r1, 0, "graph", (999, 999), 9.0, kind="node")  # only model calls are counted per model
    model_span(r1, 1, "gpt-x", (80, 40), 0.015)
    model_span(r1, 2, "claude-y", (20, 10), 0.005)
    model_span(r2, 0, "gpt-x", (200, 100), 0.05)
    model_span(r3, 0, "claude-y", (10, 5), 0.001)
    return {"r1": r1, "r2": r2, "r3": r3}


def test_tokens_and_cost_per_agent_per_bucket(spend: dict[str, Run]) -> None:
    """From the runs' own totals, most tokens first, one value per bucket."""
    agents = {a["name"]: a for a in dash.dashboard("24h", now=NOW)["agents"]}
    assert list(agents) == ["alpha", "beta"]
    alpha = agents["alpha"]
    assert (alpha["runs"], alpha["tokens_in"], alpha["tokens_out"], alpha["tokens"]) == (2, 300, 150, 450)
    assert alpha["cost"] == pytest.approx(0.07)
    assert alpha["series"]["tokens"][-2:] == [300, 150]
    assert alpha["series"]["cost"][-2:] == pytest.approx([0.05, 0.02])
    assert agents["beta"]["series"]["tokens"][-1] == 15
    totals = dash.dashboard("24h", now=NOW)["runs"]
    assert (totals["tokens_in"], totals["tokens_out"]) == (310, 155)
    assert totals["cost"] == pytest.approx(0.071)


def test_tokens_and_cost_per_model_per_bucket(spend: dict[str, Run]) -> None:
    """From spans of kind "model" only, placed in the bucket of their run."""
    models = {m["name"]: m for m in dash.dashboard("24h", now=NOW)["models"]}
    assert list(models) == ["gpt-x", "claude-y"]
    gpt = models["gpt-x"]
    assert (gpt["calls"], gpt["tokens"]) == (2, 420)
    assert gpt["cost"] == pytest.approx(0.065)
    assert gpt["series"]["tokens"][-2:] == [300, 120]
    assert gpt["series"]["cost"][-2:] == pytest.approx([0.05, 0.015])
    claude = models["claude-y"]
    assert (claude["calls"], claude["tokens"]) == (2, 45)
    assert claude["series"]["cost"][-1] == pytest.approx(0.006)


# --- approvals ---------------------------------------------------------------------------------


def test_pending_approvals_and_time_to_decision(roles: None) -> None:
    """Pending counts whatever its age; the median is over requests decided in the window
    (approved 1 min, rejected 3 min, expired 5 min: 3 min), not cancelled ones or older decisions."""
    make_request("payments", "pending", NOW - timedelta(days=3))
    make_request("default", "pending", NOW - timedelta(minutes=5))
    make_request("payments", "approved", CURRENT_HOUR, CURRENT_HOUR + timedelta(minutes=1))
    make_request("payments", "rejected", CURRENT_HOUR, CURRENT_HOUR + timedelta(minutes=3))
    make_request(
        "payments",
        "expired",
        CURRENT_HOUR - timedelta(hours=2),
        CURRENT_HOUR - timedelta(hours=2) + timedelta(minutes=5),
    )
    make_request("payments", "cancelled", CURRENT_HOUR, CURRENT_HOUR + timedelta(minutes=30))
    make_request(
        "payments", "approved", NOW - timedelta(days=2), NOW - timedelta(days=2) + timedelta(hours=5)
    )
    approvals = dash.dashboard("24h", now=NOW)["approvals"]
    assert (approvals["pending"], approvals["decided"]) == (2, 3)
    assert approvals["median_decision_seconds"] == pytest.approx(180)
    assert approvals["p95_decision_seconds"] == pytest.approx(288)  # 180 + 0.9 * (300 - 180)
    assert approvals["decided_by_bucket"][-1] == 2 and approvals["decided_by_bucket"][-3] == 1
    assert approvals["median_by_bucket"][-1] == pytest.approx(120)
    assert approvals["median_by_bucket"][-3] == pytest.approx(300)
    assert approvals["median_by_bucket"][0] is None


def test_a_reviewer_counts_the_queues_they_review(engineer: User, reviewer: User, client_for: ClientFor) -> None:
    """A reviewer's pending figure is their inbox's (and links to it); an engineer's is every queue's."""
    make_request("payments", "pending", timezone.now() - timedelta(minutes=5))
    make_request("unreviewed", "pending", timezone.now() - timedelta(minutes=5))
    reviewer_page = client_for(reviewer).get("/").content.decode()
    engineer_page = client_for(engineer).get("/").content.decode()
    assert re.search(
        r'<a href="/approvals/" id="fig-pending"><article><small>Pending approvals</small><strong>1<',
        reviewer_page,
    )
    assert re.search(
        r'<div id="fig-pending"><article><small>Pending approvals</small><strong>2<', engineer_page
    )


# --- failed runs -------------------------------------------------------------------------------


def test_recent_failed_runs_newest_finished_first_ten_at_most(db: Any) -> None:
    """The ten most recently finished failures of the window, with agent and the error's first line."""
    created = CURRENT_HOUR - timedelta(hours=5)
    runs = [
        make_run(
            "alpha" if i % 2 else "beta",
            S.FAILED,
            created + timedelta(minutes=i),
            # Finishing order differs from creation order: the list follows finishing.
            finished=NOW - timedelta(minutes=(i * 7) % 12 + 1),
            error=f"\n  RuntimeError: failure {i}\nTraceback (most recent call last): ...",
        )
        for i in range(12)
    ]
    make_run("alpha", S.SUCCEEDED, CURRENT_HOUR, seconds=1)
    failed = dash.dashboard("24h", now=NOW)["failed_runs"]
    expected = sorted(runs, key=lambda r: r.finished_at, reverse=True)[:10]
    assert [f["id"] for f in failed] == [str(r.id) for r in expected]
    first = failed[0]
    run = expected[0]
    assert first["agent"] == run.agent.key
    assert first["error"] == run.error.strip().splitlines()[0]
    assert first["finished_at"] == run.finished_at
    assert first["url"] == f"/runs/{run.id}/"


def test_a_long_error_line_is_shortened() -> None:
    """The list shows a glance of the error; the run page has all of it."""
    summary = dash.error_summary("x" * 500 + "\nsecond line")
    assert len(summary) == dash.ERROR_LINE_CHARS and summary.endswith("…")
    assert dash.error_summary("") == ""


# --- links -------------------------------------------------------------------------------------


def test_links_carry_the_filters_of_their_figure(hour_of_runs: dict[str, Any], spend: dict[str, Run]) -> None:
    """Each link, read by the runs list's own filters, lists exactly the runs its figure counted."""
    data = dash.dashboard("24h", now=NOW)
    links = data["links"]
    since = "2026-03-09T13:00:00Z"
    assert links["failed"] == f"/runs/?status=failed&since={since.replace(':', '%3A')}"
    assert parse_qs(urlsplit(links["runs"]).query) == {"since": [since]}
    in_window = {r.id for r in Run.objects.filter(created_at__gte=data["since"])}
    assert listed(links["runs"]) == in_window
    assert listed(links["failed"]) == {
        r.id for r in Run.objects.filter(created_at__gte=data["since"], status="failed")
    }
    # A bucket's link: that hour only (until is exclusive), that status.
    this_hour = links["by_status"]["failed"][-1]
    assert parse_qs(urlsplit(this_hour).query)["until"] == ["2026-03-10T13:00:00Z"]
    assert listed(this_hour) == {r.id for r in hour_of_runs["failed"]} | {spend["r3"].id}
    assert listed(links["failed_by_bucket"][-1]) == listed(this_hour)
    # Per agent and per model, as the tables and the stacked bars use them.
    assert listed(links["agents"]["beta"]) == {
        hour_of_runs["failed"][1].id,
        hour_of_runs["running"].id,
        spend["r3"].id,
    }
    assert listed(links["models"]["gpt-x"]) == {spend["r1"].id, spend["r2"].id}
    assert listed(links["models_by_bucket"]["gpt-x"][-1]) == {spend["r1"].id}
    assert listed(links["agents_by_bucket"]["alpha"][-2]) == {spend["r2"].id}


def test_the_page_links_figures_and_charts_to_filtered_lists(engineer: User, client_for: ClientFor) -> None:
    """The error-rate figure opens the failed runs of the window; each chart's title is a link."""
    make_run("alpha", S.FAILED, timezone.now() - timedelta(minutes=1), seconds=1, error="boom")
    response = client_for(engineer).get("/?window=7d")
    html = response.content.decode()
    since = dash.iso(dash.WINDOWS["7d"].bucket_starts(timezone.now())[0]).replace(":", "%3A")
    assert f'<a href="/runs/?status=failed&amp;since={since}" id="fig-error-rate">' in html
    assert len(re.findall(r'class="chart-link"', html)) == 5  # time to decision links for reviewers only
    data = page_data(response)
    assert len(data["labels"]) == 7
    assert len(data["links"]["by_status"]["failed"]) == 7
    assert data["links"]["agents_by_bucket"]["alpha"][-1].startswith("/runs/?agent=alpha&since=")


# --- queries -----------------------------------------------------------------------------------


def seed(count: int, now: datetime) -> None:
    """`count` runs over the 24 hours before `now`, each with a model call and an approval request."""
    for i in range(count):
        created = now - timedelta(minutes=20 * i + 1)
        run = make_run(
            f"agent-{i % 4}", [S.SUCCEEDED, S.FAILED, S.RUNNING][i % 3], created, 2, (10, 5), 0.01, "e"
        )
        model_span(run, 0, f"model-{i % 3}", (10, 5), 0.01)
        decided = created + timedelta(minutes=3) if i % 2 else None
        make_request("payments", "approved" if decided else "pending", created, decided)


@pytest.mark.parametrize("view", [False, True], ids=["figures", "page"])
def test_the_query_count_does_not_depend_on_the_number_of_runs(engineer: User, view: bool, client_for: ClientFor) -> None:
    """5 runs or 50, with spans and approvals: the same queries, seven for the figures."""

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            if view:
                assert client_for(engineer).get("/").status_code == 200
            else:
                dash.dashboard("24h", now=NOW)
        return len(queries)

    now = timezone.now() if view else NOW
    seed(5, now)
    few = count()
    seed(45, now - timedelta(minutes=7))
    assert count() == few
    if not view:
        assert few == 7


# --- the page ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["engineer", "reviewer", "admin_user"])
def test_the_dashboard_is_200_for_roles_that_read_runs(role: str, request: pytest.FixtureRequest, client_for: ClientFor) -> None:
    """Engineers, reviewers and admins get the dashboard, with its figures, charts and failed runs."""
    user: User = request.getfixturevalue(role)
    failed = make_run(
        "alpha", S.FAILED, timezone.now() - timedelta(minutes=3), seconds=1, error="Boom: <b>x</b>\nmore"
    )
    make_run("alpha", S.SUCCEEDED, timezone.now() - timedelta(minutes=2), seconds=1)
    response = client_for(user).get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="fig-error-rate"' in html and "50.0 %" in html
    for chart in ("chart-runs", "chart-error-rate", "chart-duration", "chart-tokens"):
        assert f'id="{chart}"' in html
    assert f'href="/runs/{failed.id}/"' in html
    assert "Boom: &lt;b&gt;x&lt;/b&gt;" in html  # the error is text
    assert "more" not in re.search(r'<article id="failed-runs">.*?</article>', html, re.S).group(0)


def test_a_user_without_a_role_sees_the_no_role_page(outsider: User, client_for: ClientFor) -> None:
    """No figures for someone who may not read runs: a page that says to ask for a role."""
    response = client_for(outsider).get("/")
    assert response.status_code == 200
    assert b"Your account has no console role yet" in response.content
    assert b"dashboard-data" not in response.content


def test_the_dashboard_redirects_anonymous_to_login(db: Any, client_for: ClientFor) -> None:
    """Logged out: 302 to the login page, coming back to /."""
    response = client_for(None).get("/?window=7d")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/")


def test_the_page_loads_nothing_from_another_site(engineer: User, client_for: ClientFor) -> None:
    """Every script, stylesheet and image is vendored: no http(s):// or protocol-relative URL."""
    make_run("alpha", S.FAILED, timezone.now() - timedelta(minutes=1), seconds=1, error="boom")
    html = client_for(engineer).get("/").content.decode()
    sources = re.findall(r'<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)="([^"]*)"', html)
    assert sources and all(src.startswith("/static/") for src in sources), sources
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)
    assert "/static/vendor/chartjs/chart.umd.min.js" in html


def test_chartjs_is_loaded_by_the_dashboard_only(engineer: User, client_for: ClientFor) -> None:
    """The charts library is for pages that draw charts; the runs list does without it."""
    assert b"chart.umd.min.js" not in client_for(engineer).get("/runs/").content


def test_the_theme_toggle_is_in_the_nav_and_the_theme_is_set_before_first_paint(engineer: User, client_for: ClientFor) -> None:
    """A toggle button in the nav; a script in <head>, before the stylesheets and not deferred,
    applies the stored theme or the system's preference, so the page never flashes the other
    theme. It is a static file: the Content-Security-Policy allows no inline script."""
    theme_js = (settings.BASE_DIR / "static/console/steward.js").read_text()
    assert "localStorage" in theme_js and "prefers-color-scheme" in theme_js and "dataset.theme" in theme_js
    for user in (engineer, None):
        html = client_for(user).get("/" if user else "/login/").content.decode()
        assert re.search(r'<nav>.*<button type="button" id="theme-toggle"[^>]*>.*</nav>', html, re.S)
        head = html[: html.index("</head>")]
        script = head.index('<script src="/static/console/steward.js"></script>')
        assert script < head.index('rel="stylesheet"')
