"""The run page's replay and retry: the form, the safety preview, errors next to the fields."""

from __future__ import annotations

from typing import Any

import pytest

from agents.engine import runtime
from agents.engine.models import Run
from agents.engine.services import start_run
from tests.support.runs import approved_refund

pytestmark = pytest.mark.django_db(transaction=True)


def test_live_replay_shows_what_would_happen_again_before_it_starts(engineer: Any, reviewer: Any, client: Any) -> None:
    """A live replay of an approved refund lists the gated action, the approval it would ask for
    and the ledger entry that already exists; nothing is queued until the engineer confirms."""
    run = approved_refund(engineer, reviewer, order="PG-1", amount=300)
    client.force_login(engineer)
    runs_before = Run.objects.count()
    page = client.post(f"/runs/{run.id}/replay", {"mode": "live", "from_step": "", "state_patch": ""})
    html = page.content.decode()
    assert page.status_code == 200 and 'id="replay-preview"' in html
    assert "issue_refund" in html and "payments" in html and "refund:PG-1" in html
    assert Run.objects.count() == runs_before
    started = client.post(f"/runs/{run.id}/replay", {"mode": "live", "from_step": "", "state_patch": "", "confirm": "yes"})
    assert started.status_code == 302
    replayed = Run.objects.get(parent_run=run)
    assert started["Location"] == f"/runs/{replayed.id}/" and replayed.metadata["replay"]["mode"] == "live"


def test_bad_state_patch_and_step_are_refused_next_to_the_fields(engineer: Any, client: Any) -> None:
    """Malformed JSON, an unknown key or a missing step: 422 with the message by its field; nothing queued."""
    run = start_run("known", {"topic": "tides"}, engineer)
    runtime.execute(run.id)
    client.force_login(engineer)
    before = Run.objects.count()
    bad_json = client.post(f"/runs/{run.id}/replay", {"mode": "recorded", "from_step": "2", "state_patch": "{oops"})
    assert bad_json.status_code == 422 and b'id="err_state_patch"' in bad_json.content
    unknown = client.post(f"/runs/{run.id}/replay", {"mode": "recorded", "from_step": "2", "state_patch": '{"nope": 1}'})
    assert unknown.status_code == 422 and b"no state key" in unknown.content
    missing = client.post(f"/runs/{run.id}/replay", {"mode": "recorded", "from_step": "9", "state_patch": ""})
    assert missing.status_code == 422 and b"step 9 does not exist" in missing.content
    assert Run.objects.count() == before


def test_retry_button_only_for_failed_runs_and_reviewers_may_not_replay(engineer: Any, reviewer: Any, client: Any) -> None:
    """A failed run offers retry in place; a reviewer can neither replay nor retry (403)."""
    failed = start_run("stock_check", {"sku": "BROKEN-3"}, engineer)
    runtime.execute(failed.id)
    client.force_login(engineer)
    assert b'id="retry-button"' in client.get(f"/runs/{failed.id}/").content
    client.force_login(reviewer)
    assert b'id="replay-panel"' not in client.get(f"/runs/{failed.id}/").content
    assert client.post(f"/runs/{failed.id}/retry").status_code == 403
    assert client.post(f"/runs/{failed.id}/replay", {"mode": "recorded"}).status_code == 403
