"""Feedback on runs: scoring (and re-scoring), the figures per agent, the runs filter, who may."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User

from agents.engine.models import Run
from agents.engine.services import start_run
from console.kernel.errors import Invalid
from tests.support.clients import ApiClient, ClientFor
from tests.support.users import make_user
from traces.inspection.feedback import filter_runs, give_feedback, per_agent
from traces.recording.models import Feedback

pytestmark = pytest.mark.django_db
Api = Callable[[User | None], ApiClient]


def refund_run(user: User) -> Run:
    """A queued refund run (nothing executes it here: feedback needs only the row)."""
    return start_run("refund", {"order_id": f"F-{uuid.uuid4().hex[:10]}", "amount": 20, "reason": "x"}, user)


def known_run(user: User) -> Run:
    return start_run("known", {"topic": "tides"}, user)


def test_score_then_replace(engineer: User, reviewer: User, api: Api) -> None:
    """A first score is 201; the same person scoring again is 200 and replaces it; others add theirs."""
    run = refund_run(engineer)
    eng, rev = api(engineer), api(reviewer)

    first = eng.post(f"/api/runs/{run.id}/feedback", {"score": 1, "label": "good-answer", "comment": "spot on"})
    assert first.status_code == 201, first.content
    body = first.json()
    assert (body["score"], body["label"], body["comment"], body["user"]) == (1, "good-answer", "spot on", "engineer")
    assert body["run_id"] == str(run.id)

    other = rev.post(f"/api/runs/{run.id}/feedback", {"score": -1, "label": "wrong-amount"})
    assert other.status_code == 201

    again = eng.post(f"/api/runs/{run.id}/feedback", {"score": -1, "comment": "on second thought"})
    assert again.status_code == 200, again.content
    assert again.json()["id"] == body["id"]
    assert (again.json()["score"], again.json()["label"], again.json()["comment"]) == (-1, "", "on second thought")

    assert Feedback.objects.filter(run=run).count() == 2
    listed = rev.get(f"/api/runs/{run.id}/feedback")
    assert listed.status_code == 200
    assert sorted((f["user"], f["score"]) for f in listed.json()) == [("engineer", -1), ("reviewer", -1)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"score": 0}, "score"),
        ({"score": 2}, "score"),
        ({}, "score"),
        ({"score": 1, "label": "x" * 65}, "label"),
    ],
)
def test_invalid_feedback_is_422(engineer: User, api: Api, body: dict[str, object], field: str) -> None:
    """A score other than 1 or -1, a label over 64 characters, a NUL character: 422 naming the field."""
    run = refund_run(engineer)
    response = api(engineer).post(f"/api/runs/{run.id}/feedback", body)
    assert response.status_code == 422, response.content
    assert any(field in [str(p) for p in e["loc"]] for e in response.json()["detail"])
    assert not Feedback.objects.exists()


def test_service_refuses_what_the_database_cannot_store(engineer: User) -> None:
    """give_feedback (the page's path) refuses NUL characters and scores other than 1 or -1.
    (Through the API a NUL is a 400 before the view: console/kernel/middleware.py.)"""
    run = refund_run(engineer)
    with pytest.raises(Invalid) as caught:
        give_feedback(run, engineer, 3, label="a\x00b", comment="c\x00")
    assert {e["loc"][-1] for e in caught.value.detail} == {"score", "label", "comment"}
    assert api_nul_is_400(engineer, run)


def api_nul_is_400(user: User, run: Run) -> bool:
    response = ApiClient(user).post(f"/api/runs/{run.id}/feedback", {"score": 1, "comment": "nul \u0000"})
    return response.status_code == 400 and not Feedback.objects.exists()


def test_who_may_score(engineer: User, outsider: User, admin_user: User, api: Api) -> None:
    """Outsiders get 403 (reading and scoring), no key 401, an unknown run 404; admins may score."""
    run = refund_run(engineer)
    assert api(outsider).post(f"/api/runs/{run.id}/feedback", {"score": 1}).status_code == 403
    assert api(outsider).get(f"/api/runs/{run.id}/feedback").status_code == 403
    assert api(None).post(f"/api/runs/{run.id}/feedback", {"score": 1}).status_code == 401
    assert api(engineer).post(f"/api/runs/{uuid.uuid4()}/feedback", {"score": 1}).status_code == 404
    assert api(admin_user).post(f"/api/runs/{run.id}/feedback", {"score": 1}).status_code == 201
    assert not Feedback.objects.filter(user=outsider).exists()


def test_per_agent_figures(engineer: User, reviewer: User) -> None:
    """Up, down and their sum per agent with feedback, by agent key; agents without feedback are absent."""
    third = make_user("third", "reviewers")
    r1, r2 = refund_run(engineer), refund_run(engineer)
    k1 = known_run(engineer)
    refund_run(engineer)  # never scored
    give_feedback(r1, engineer, 1)
    give_feedback(r1, reviewer, 1)
    give_feedback(r2, reviewer, -1)
    give_feedback(r2, third, 1)
    give_feedback(k1, third, -1)
    give_feedback(k1, third, -1, label="again")  # a replacement, not a second score
    assert per_agent() == [
        {"agent": "known", "up": 0, "down": 1, "score": -1},
        {"agent": "refund", "up": 3, "down": 1, "score": 2},
    ]


def test_filter_runs(engineer: User, reviewer: User) -> None:
    """up: has a thumbs up; down: has a thumbs down; none: no feedback; "" all; anything else Invalid."""
    up, down, both, none = (refund_run(engineer) for _ in range(4))
    give_feedback(up, engineer, 1)
    give_feedback(up, reviewer, 1)  # two ups: still one row in the result
    give_feedback(down, engineer, -1)
    give_feedback(both, engineer, 1)
    give_feedback(both, reviewer, -1)
    runs = Run.objects.all()

    def ids(value: str | None) -> list[uuid.UUID]:
        return sorted(r.id for r in filter_runs(runs, value))

    assert ids("up") == sorted([up.id, both.id])
    assert ids("down") == sorted([down.id, both.id])
    assert ids("none") == [none.id]
    assert ids("") == ids(None) == sorted(r.id for r in (up, down, both, none))
    assert filter_runs(runs.filter(status="queued"), "up").count() == 2
    with pytest.raises(Invalid):
        filter_runs(runs, "sideways")


def test_feedback_form_on_the_run_page(engineer: User, reviewer: User, outsider: User, client_for: ClientFor) -> None:
    """The run page shows the form and the scores; posting the form scores the run, again replaces it."""
    run = refund_run(engineer)
    client = client_for(reviewer)
    page = client.get(f"/runs/{run.id}/").content.decode()
    assert f'action="/runs/{run.id}/feedback"' in page and "No feedback yet." in page

    response = client.post(f"/runs/{run.id}/feedback", {"score": "-1", "label": "too-slow", "comment": "<b>slow</b>"})
    assert response.status_code == 302 and response["Location"] == f"/runs/{run.id}/#feedback"
    assert client.post(f"/runs/{run.id}/feedback", {"score": "1", "label": "ok"}).status_code == 302
    feedback = Feedback.objects.get(run=run)
    assert (feedback.user, feedback.score, feedback.label) == (reviewer, 1, "ok")

    page = client.get(f"/runs/{run.id}/").content.decode()
    totals = re.search(r'id="feedback-totals">(.*?)</summary>', page, re.S)
    assert totals is not None
    shown = re.sub(r"<svg.*?</svg>", "", totals.group(1), flags=re.S)
    assert "thumbs up</span> 1 ·" in shown and "thumbs down</span> 0" in shown and "<code>ok</code>" in page
    # Icons are inline SVG: emoji show as empty boxes where no emoji font is installed.
    assert "👍" not in page and "👎" not in page and page.count('<svg class="icon"') >= 4

    bad = client.post(f"/runs/{run.id}/feedback", {"score": "sideways"}, follow=True)
    assert "Not scored" in bad.content.decode()
    assert client_for(outsider).post(f"/runs/{run.id}/feedback", {"score": "1"}).status_code == 403
    assert Feedback.objects.filter(run=run).count() == 1


def test_comments_stay_text(engineer: User, reviewer: User, client_for: ClientFor) -> None:
    """A comment with markup is shown escaped on the run page."""
    run = refund_run(engineer)
    give_feedback(run, reviewer, -1, comment="<script>alert(1)</script>")
    page = client_for(engineer).get(f"/runs/{run.id}/").content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_feedback_per_agent_page(engineer: User, reviewer: User, outsider: User, client_for: ClientFor) -> None:
    """/runs/feedback lists the per-agent figures for readers, and the runs list links to it."""
    run = refund_run(engineer)
    give_feedback(run, reviewer, 1)
    give_feedback(run, engineer, -1)
    response = client_for(reviewer).get("/runs/feedback")
    assert response.status_code == 200
    html = response.content.decode()
    assert "refund" in html and "50%" in html
    assert "/runs/?agent=refund&amp;feedback=down" in html
    assert client_for(outsider).get("/runs/feedback").status_code == 403
    assert 'href="/runs/feedback"' in client_for(reviewer).get("/runs/").content.decode()
