"""The diff page: totals side by side, aligned rows, the first divergence, escaping and access."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.test import Client

from agents.engine import runtime
from agents.engine.models import Run
from tests.support.clients import ClientFor
from tests.support.runs import executed_run
from traces.inspection.replay import replay

pytestmark = pytest.mark.django_db(transaction=True)


def _replayed(original: Run, user: Any, **kwargs: Any) -> Run:
    copy = replay(original, user, **kwargs)
    runtime.execute(copy.id)
    copy.refresh_from_db()
    return copy


def test_a_recorded_replay_shows_both_totals_and_no_divergence(engineer: Any, reviewer: Any, client_for: ClientFor) -> None:
    original = executed_run("known", {"topic": "tides"}, engineer)
    copy = _replayed(original, engineer, mode="recorded")
    response = client_for(reviewer).get(f"/runs/{original.id}/diff/{copy.id}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert str(original.id) in html and str(copy.id) in html
    assert "Totals" in html and html.count('<span class="status succeeded">succeeded</span>') >= 2
    assert "No divergence" in html and 'id="first-divergence"' not in html
    assert f"/runs/{original.id}/spans/" in html and f"/runs/{copy.id}/spans/" in html, "node rows link to their spans"
    assert 'name="with"' in html, "the form to compare with another run"


def test_a_fork_with_edited_state_highlights_the_first_divergence(engineer: Any, client_for: ClientFor) -> None:
    original = executed_run("known", {"topic": "tides"}, engineer)
    plan = [{"name": "measure", "args": {"topic": "the deep ocean"}, "id": "call_measure", "type": "tool_call"}]
    copy = _replayed(original, engineer, from_step=2, mode="live", state_patch={"plan": json.dumps(plan)})
    assert copy.status == "succeeded"
    html = client_for(engineer).get(f"/runs/{original.id}/diff/{copy.id}/").content.decode()
    assert html.count('id="first-divergence"') == 1
    assert "First divergence at row" in html
    assert "inherited from the original" in html, "steps before the fork are greyed, not divergent"
    row = html.split('id="first-divergence"', 1)[1].split("</tr>", 1)[0]
    assert "differs" in row
    assert "the deep ocean" in html and "tides" in html


def test_the_compare_form_goes_to_the_other_diff(engineer: Any, client_for: ClientFor) -> None:
    a = executed_run("known", {"topic": "tides"}, engineer)
    b = executed_run("known", {"topic": "waves"}, engineer)
    client = client_for(engineer)
    response = client.get(f"/runs/{a.id}/diff/{a.id}/", {"with": str(b.id)})
    assert response.status_code == 302 and response["Location"] == f"/runs/{a.id}/diff/{b.id}/"
    assert client.get(f"/runs/{a.id}/diff/{a.id}/", {"with": "nope"}).status_code == 422


def test_unknown_runs_are_404_and_outsiders_get_403(engineer: Any, outsider: Any, client_for: ClientFor) -> None:
    run = executed_run("known", {"topic": "tides"}, engineer)
    assert client_for(engineer).get(f"/runs/{run.id}/diff/{uuid.uuid4()}/").status_code == 404
    assert client_for(engineer).get(f"/runs/{uuid.uuid4()}/diff/{run.id}/").status_code == 404
    assert client_for(outsider).get(f"/runs/{run.id}/diff/{run.id}/").status_code == 403
    anonymous = Client().get(f"/runs/{run.id}/diff/{run.id}/")
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]


def test_outputs_are_escaped(engineer: Any, client_for: ClientFor) -> None:
    original = executed_run("known", {"topic": "<script>alert(1)</script>"}, engineer)
    copy = _replayed(original, engineer, mode="recorded")
    html = client_for(engineer).get(f"/runs/{original.id}/diff/{copy.id}/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    assert "<pre hx-disable>" in html


def test_a_replay_from_a_step_counts_the_steps_it_inherited_in_its_totals(engineer: Any, client_for: ClientFor) -> None:
    """A recorded replay from step 2 records only its own steps; the steps it inherited are part of
    it too, so the diff's totals agree with the original's and nothing is said to differ."""
    original = executed_run("known", {"topic": "tides"}, engineer)
    copy = _replayed(original, engineer, from_step=2, mode="recorded")
    assert (copy.steps, copy.tokens_in) != (original.steps, original.tokens_in)  # its own rows only
    html = client_for(engineer).get(f"/runs/{original.id}/diff/{copy.id}/").content.decode()
    assert 'id="no-divergence"' in html and 'id="totals-differ"' not in html, html
    assert "inherited from the original" in html


def test_equal_steps_with_different_totals_are_not_called_no_divergence(engineer: Any, client_for: ClientFor) -> None:
    """Every step the same but the runs' totals differ (tokens counted beyond the steps): the page
    says the totals differ, with both figures, not "No divergence"."""
    original = executed_run("known", {"topic": "tides"}, engineer)
    copy = _replayed(original, engineer, mode="recorded")
    Run.objects.filter(id=copy.id).update(tokens_in=original.tokens_in + 7)
    html = client_for(engineer).get(f"/runs/{original.id}/diff/{copy.id}/").content.decode()
    assert "No divergence" not in html and 'id="first-divergence"' not in html
    said = html.split('id="totals-differ"', 1)[1].split("</p>", 1)[0]
    assert f"{original.tokens_in} / {original.tokens_out} vs {original.tokens_in + 7} / {original.tokens_out}" in said, said


def test_compare_with_a_recent_run_of_the_same_agent_needs_no_run_id(engineer: Any, client_for: ClientFor) -> None:
    """The run page and the diff page list recent runs of the agent; choosing one opens the diff."""
    a = executed_run("known", {"topic": "tides"}, engineer)
    b = executed_run("known", {"topic": "waves"}, engineer)
    c = executed_run("known", {"topic": "foam"}, engineer)
    client = client_for(engineer)
    page = client.get(f"/runs/{a.id}/").content.decode()
    picker = page.split('id="compare-picker"', 1)[1].split("</details>", 1)[0]
    assert f'href="/runs/{a.id}/diff/{c.id}/"' in picker and f'href="/runs/{a.id}/diff/{b.id}/"' in picker
    assert picker.index(str(c.id)) < picker.index(str(b.id)), "newest first"
    diff = client.get(f"/runs/{a.id}/diff/{b.id}/").content.decode()
    assert f'<option value="{c.id}">' in diff
    response = client.get(f"/runs/{a.id}/diff/{b.id}/", {"recent": str(c.id)})
    assert response.status_code == 302 and response["Location"] == f"/runs/{a.id}/diff/{c.id}/"
