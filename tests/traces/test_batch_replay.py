"""Batch replay: the last N failed runs of an agent, replayed mixed, and the summary page."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from agents.engine import runtime
from agents.engine.models import Run
from agents.engine.services import start_run
from agents.prompt_admin import services as prompt_services
from tests.support.clients import ClientFor
from traces.inspection.batch import failed_step, first_changed_call, replay_failed
from traces.recording.models import Span

pytestmark = pytest.mark.django_db(transaction=True)


def _failed_flaky_runs(user: Any, count: int) -> list[Run]:
    """`count` failed runs of "flaky", oldest first, each on a topic it has never seen."""
    runs = []
    for _ in range(count):
        run = start_run("flaky", {"topic": f"batch-{uuid.uuid4().hex}"}, user)
        runtime.execute(run.id)
        run.refresh_from_db()
        assert run.status == "failed" and "transient" in run.error
        runs.append(run)
    return runs


def test_replay_failed_replays_the_newest_and_they_now_succeed(engineer: Any) -> None:
    oldest, middle, newest = _failed_flaky_runs(engineer, 3)
    replays = replay_failed("flaky", engineer, limit=2)
    assert [r.parent_run_id for r in replays] == [newest.id, middle.id]
    batch = replays[0].metadata["replay"]["batch"]
    for new in replays:
        stored = Run.objects.get(id=new.id).metadata["replay"]
        assert stored["batch"] == batch and stored["mode"] == "mixed"
        assert stored["live_from_step"] == 2, "recorded until the failed fetch step, live from it"
        assert runtime.execute(new.id) == "succeeded"
    assert not Run.objects.filter(parent_run=oldest).exists()


def test_pruned_runs_are_not_in_the_batch(engineer: Any) -> None:
    """A pruned run has no checkpoints or spans to replay from: the batch takes the next one
    instead of failing part-way."""
    from django.utils import timezone

    older, pruned = _failed_flaky_runs(engineer, 2)
    Run.objects.filter(id=pruned.id).update(pruned_at=timezone.now())
    replays = replay_failed("flaky", engineer, limit=2)
    assert [r.parent_run_id for r in replays] == [older.id]


def test_the_summary_page_lists_each_replay_with_its_diff(engineer: Any, client_for: ClientFor) -> None:
    _, middle, newest = _failed_flaky_runs(engineer, 3)
    client = client_for(engineer)
    form = client.get("/agents/flaky/replay-failed")
    assert form.status_code == 200 and str(newest.id)[:8] in form.content.decode()
    response = client.post("/agents/flaky/replay-failed", {"limit": "2", "state_patch": ""})
    assert response.status_code == 302
    batch_id = response["Location"].rstrip("/").split("/")[-1]
    assert response["Location"] == f"/replays/{batch_id}/"
    page = client.get(response["Location"]).content.decode()
    assert page.count('class="batch-row') == 2
    assert 'hx-trigger="every 2s"' in page, "re-fetched while replays are queued"
    replays = list(Run.objects.filter(metadata__replay__batch=batch_id))
    for new in replays:
        assert f"/runs/{new.parent_run_id}/diff/{new.id}/" in page
        runtime.execute(new.id)
    rows = client.get(f"/replays/{batch_id}/rows").content.decode()
    assert rows.count('class="batch-row fixed"') == 2 and "2 of 2" in rows
    assert "every 2s" not in rows, "polling stops once every replay has finished"
    assert {r.parent_run_id for r in replays} == {middle.id, newest.id}


def test_bad_forms_and_unknown_batches(engineer: Any, client_for: ClientFor) -> None:
    _failed_flaky_runs(engineer, 1)
    client = client_for(engineer)
    bad = client.post("/agents/flaky/replay-failed", {"limit": "2", "state_patch": "[1"})
    assert bad.status_code == 422 and "not valid JSON" in bad.content.decode()
    unknown_key = client.post("/agents/flaky/replay-failed", {"limit": "1", "state_patch": '{"nonsense": 1}'})
    assert unknown_key.status_code == 422 and "nonsense" in unknown_key.content.decode()
    assert client.get(f"/replays/{uuid.uuid4()}/").status_code == 404
    assert client.get("/agents/no-such-agent/replay-failed").status_code == 404


def test_reviewers_may_not_replay_in_batches(engineer: Any, reviewer: Any, client_for: ClientFor) -> None:
    _failed_flaky_runs(engineer, 1)
    replays = replay_failed("flaky", engineer, limit=1)
    batch = replays[0].metadata["replay"]["batch"]
    client = client_for(reviewer)
    assert client.get("/agents/flaky/replay-failed").status_code == 403
    assert client.post("/agents/flaky/replay-failed", {"limit": "1"}).status_code == 403
    assert client.get(f"/replays/{batch}/").status_code == 403
    assert client.get(f"/replays/{batch}/rows").status_code == 403


# --- a change of prompt version or model ------------------------------------------------------


def _failed_stock_checks(user: Any, count: int) -> list[Run]:
    """`count` failed stock_check runs (a BROKEN sku makes its tool raise after the first model call)."""
    runs = []
    for index in range(count):
        run = start_run("stock_check", {"sku": f"BROKEN-{index}"}, user)
        runtime.execute(run.id)
        run.refresh_from_db()
        assert run.status == "failed"
        runs.append(run)
    return runs


def _steps(run: Run, kind: str) -> list[int]:
    return list(Span.objects.filter(run=run, kind=kind).order_by("seq").values_list("step", flat=True))


def _stock_prompt_v2(admin: Any) -> int:
    template = [
        {"role": "system", "content": "You check the stock of {shop_name}, carefully."},
        {"role": "placeholder", "name": "history"},
    ]
    return prompt_services.save_version(admin, "stock_check_system", template=template, message="be careful").number


def test_a_prompt_change_makes_the_batch_live_from_the_first_model_call_using_it(engineer: Any, admin_user: Any) -> None:
    """The failing tool step comes after a model call that renders the prompt: with another
    version, the replay is live from that model call (the earlier of the two), pins the version,
    and its model spans name it."""
    originals = _failed_stock_checks(engineer, 2)
    v2 = _stock_prompt_v2(admin_user)
    model_step, failed = _steps(originals[0], "model")[0], failed_step(originals[0])
    assert failed is not None and model_step < failed
    replays = replay_failed("stock_check", engineer, limit=2, prompt_versions={"stock_check_system": v2})
    assert [r.parent_run_id for r in replays] == [originals[1].id, originals[0].id]
    for new in replays:
        stored = Run.objects.get(id=new.id)
        assert stored.metadata["replay"]["mode"] == "mixed" and stored.metadata["replay"]["live_from_step"] == model_step
        assert stored.metadata["replay"]["prompt_versions"] == {"stock_check_system": v2}
        assert stored.prompt_versions["stock_check_system"]["version"] == v2
        runtime.execute(new.id)
        assert set(
            Span.objects.filter(run=new, kind="model").values_list("prompt_version__number", flat=True)
        ) == {v2}


def test_the_pinned_version_is_no_change(engineer: Any) -> None:
    """Choosing the version the runs already pinned changes nothing: live from the failed step."""
    (original,) = _failed_stock_checks(engineer, 1)
    (new,) = replay_failed("stock_check", engineer, limit=1, prompt_versions={"stock_check_system": 1})
    assert new.metadata["replay"]["live_from_step"] == failed_step(original)


def test_a_model_change_names_the_model_on_the_replayed_calls(engineer: Any) -> None:
    _failed_stock_checks(engineer, 1)
    (new,) = replay_failed("stock_check", engineer, limit=1, model="scripted-other")
    assert new.metadata["replay"]["model"] == "scripted-other"
    runtime.execute(new.id)
    assert set(Span.objects.filter(run=new, kind="model").values_list("name", flat=True)) == {"scripted-other"}


def test_a_change_that_no_model_call_sees_keeps_the_failed_step(engineer: Any) -> None:
    """A run whose steps made no model call: another model or prompt affects nothing in it, so
    there is no earlier live point than the failure."""
    (original,) = _failed_flaky_runs(engineer, 1)
    Span.objects.filter(run=original, kind="model").delete()
    assert first_changed_call(original, None, None, "scripted-other") is None
    assert first_changed_call(original, None, {"stock_check_system": 2}, None) is None
    (new,) = replay_failed("flaky", engineer, limit=1, model="scripted-other")
    assert new.metadata["replay"]["live_from_step"] == failed_step(original) == 2


def test_the_form_offers_prompt_versions_and_models(engineer: Any, admin_user: Any, client_for: ClientFor) -> None:
    """The form lists the agent's prompts with their versions and the models seen; posting a
    version starts a batch whose summary names the change; a missing version is a 422 with a
    message and starts nothing."""
    _failed_stock_checks(engineer, 1)
    v2 = _stock_prompt_v2(admin_user)
    client = client_for(engineer)
    form = client.get("/agents/stock_check/replay-failed").content.decode()
    assert 'name="prompt"' in form and f'value="stock_check_system@{v2}"' in form
    assert 'value="stock_check_system@1"' in form and "(production)" in form
    assert 'name="model"' in form and '<option value="scripted-demo">' in form

    missing = client.post("/agents/stock_check/replay-failed", {"limit": "1", "prompt": "stock_check_system@99"})
    assert missing.status_code == 422 and "has no version 99" in missing.content.decode()
    garbled = client.post("/agents/stock_check/replay-failed", {"limit": "1", "prompt": "stock_check_system"})
    assert garbled.status_code == 422 and "not a prompt version" in garbled.content.decode()
    assert not Run.objects.filter(parent_run__isnull=False).exists()

    response = client.post(
        "/agents/stock_check/replay-failed", {"limit": "1", "prompt": ["", f"stock_check_system@{v2}"], "model": ""}
    )
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert f"prompt <code>stock_check_system</code> v{v2}" in page
    assert page.count('class="batch-row') == 1
