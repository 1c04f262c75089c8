"""Threads: the runs that share a thread id, in order, on a page, in the API and linked from a run."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from agents.engine.models import Run
from agents.engine.services import start_run
from tests.support.clients import ApiClient, ClientFor

pytestmark = pytest.mark.django_db
Api = Callable[[User | None], ApiClient]


def conversation(user: User, thread_id: str, topics: list[str]) -> list[Run]:
    """Runs of the `known` agent put on one thread, one minute apart, in the order given."""
    start = timezone.now() - timedelta(hours=1)
    runs = []
    for i, topic in enumerate(topics):
        run = start_run("known", {"topic": topic}, user)
        Run.objects.filter(id=run.id).update(thread_id=thread_id, created_at=start + timedelta(minutes=i))
        runs.append(Run.objects.get(id=run.id))
    return runs


def test_thread_api_lists_runs_in_order(engineer: User, reviewer: User, api: Api) -> None:
    """GET /api/threads/{id}: the thread's runs, oldest first, as the runs API shows them."""
    runs = conversation(engineer, "conv-1", ["first", "second", "third"])
    # The order is the runs' created_at, not the order the rows were written in.
    Run.objects.filter(id=runs[0].id).update(created_at=runs[1].created_at + timedelta(seconds=30))
    runs = [runs[1], runs[0], runs[2]]
    conversation(engineer, "conv-2", ["elsewhere"])

    response = api(reviewer).get("/api/threads/conv-1")
    assert response.status_code == 200, response.content
    items = response.json()
    assert [i["id"] for i in items] == [str(r.id) for r in runs]
    assert [i["input"]["topic"] for i in items] == ["second", "first", "third"]
    assert {i["thread_id"] for i in items} == {"conv-1"}
    assert items[0]["agent"] == "known" and items[0]["status"] == "queued" and "totals" in items[0]


def test_thread_api_errors(engineer: User, outsider: User, api: Api) -> None:
    """An unknown thread is 404; outsiders 403; no key 401."""
    conversation(engineer, "conv-x", ["a"])
    assert api(engineer).get("/api/threads/nope").status_code == 404
    assert api(outsider).get("/api/threads/conv-x").status_code == 403
    assert api(None).get("/api/threads/conv-x").status_code == 401


def test_thread_page(engineer: User, reviewer: User, outsider: User, client_for: ClientFor) -> None:
    """/threads/<id>/ shows each run (status, agent, input) in order, input text escaped."""
    runs = conversation(engineer, "conv-page", ["<script>alert(1)</script>", "tides", "moons"])
    Run.objects.filter(id=runs[1].id).update(status="succeeded", output={"result": "high tide at 6"})
    response = client_for(reviewer).get("/threads/conv-page/")
    assert response.status_code == 200
    html = response.content.decode()
    positions = [html.index(f"/runs/{r.id}/") for r in runs]
    assert positions == sorted(positions)
    assert "3 runs in this conversation" in html
    assert "high tide at 6" in html and "succeeded" in html and "known" in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html

    assert client_for(reviewer).get("/threads/unknown/").status_code == 404
    assert client_for(outsider).get("/threads/conv-page/").status_code == 403
    assert Client().get("/threads/conv-page/").status_code == 302


def test_run_page_links_to_its_thread(engineer: User, client_for: ClientFor) -> None:
    """The run page says how many runs its thread has and links to the thread page."""
    runs = conversation(engineer, "conv-link", ["a", "b"])
    html = client_for(engineer).get(f"/runs/{runs[0].id}/").content.decode()
    assert 'href="/threads/conv-link/"' in html and "Thread: 2 runs" in html

    alone = start_run("known", {"topic": "solo"}, engineer)
    html = client_for(engineer).get(f"/runs/{alone.id}/").content.decode()
    assert f'href="/threads/{alone.thread_id}/"' in html and "Thread: 1 run<" in html


def test_thread_ids_with_slashes(engineer: User, api: Api, client_for: ClientFor) -> None:
    """A thread id with a slash still has a page and an API answer."""
    runs = conversation(engineer, f"team/{uuid.uuid4().hex[:6]}", ["a"])
    thread_id = runs[0].thread_id
    assert api(engineer).get(f"/api/threads/{thread_id}").json()[0]["id"] == str(runs[0].id)
    assert client_for(engineer).get(f"/threads/{thread_id}/").status_code == 200
