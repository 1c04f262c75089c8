"""The run page's replay panel with another prompt version or model: what a replay changes is
chosen on the page, recorded on the new run and shown on its page."""

from __future__ import annotations

from typing import Any

import pytest

from agents.engine import runtime
from agents.engine.models import Run
from agents.engine.services import start_run
from agents.prompt_admin.services import save_version

pytestmark = pytest.mark.django_db(transaction=True)

NEW_SYSTEM = [
    {"role": "system", "content": "You refund orders for {shop_name}.\nSign-off: Kind regards from {shop_name}"},
    {"role": "placeholder", "name": "history"},
]


def _finished_refund(engineer: Any) -> Run:
    run = start_run("refund", {"order_id": "PF-1", "amount": 40, "reason": "late"}, engineer)
    runtime.execute(run.id)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED
    return run


def test_replay_panel_offers_the_runs_prompt_versions_previews_then_uses_the_chosen_one(
    engineer: Any, admin_user: Any, client: Any
) -> None:
    run = _finished_refund(engineer)
    pinned = run.prompt_versions["refund_system"]["version"]
    newer = save_version(admin_user, "refund_system", template=NEW_SYSTEM, message="kinder", base_number=pinned)
    client.force_login(engineer)

    page = client.get(f"/runs/{run.id}/").content.decode()
    assert 'name="prompt__refund_system"' in page
    assert f"v{newer.number}: kinder" in page and f"v{pinned} (this run's)" in page
    assert f"refund_system v{pinned}</code>" in page  # the header names the pinned version

    chosen = {"mode": "recorded", "from_step": "", "state_patch": "", "prompt__refund_system": str(newer.number), "model": ""}
    # Another version makes the replay live from the first call it changes: the safety preview first.
    preview = client.post(f"/runs/{run.id}/replay", chosen)
    assert preview.status_code == 200 and 'id="replay-preview"' in preview.content.decode()
    assert "mixed replay" in preview.content.decode() and not Run.objects.filter(parent_run=run).exists()
    answer = client.post(f"/runs/{run.id}/replay", {**chosen, "confirm": "yes"})
    assert answer.status_code == 302
    replayed = Run.objects.get(parent_run=run)
    assert replayed.metadata["replay"]["prompt_versions"] == {"refund_system": newer.number}
    assert replayed.metadata["replay"]["mode"] == "mixed"  # recorded up to the first affected model call
    runtime.execute(replayed.id)
    replayed.refresh_from_db()
    assert replayed.status == Run.Status.SUCCEEDED
    assert replayed.output["answer"].endswith("Kind regards from Steward Shop")
    assert replayed.prompt_versions["refund_system"]["version"] == newer.number
    detail = client.get(f"/runs/{replayed.id}/").content.decode()
    assert f"prompt versions: <code>refund_system v{newer.number}</code>" in detail


def test_replay_panel_with_another_model_and_a_missing_version(engineer: Any, client: Any) -> None:
    run = _finished_refund(engineer)
    client.force_login(engineer)
    missing = client.post(
        f"/runs/{run.id}/replay",
        {"mode": "recorded", "from_step": "", "state_patch": "", "prompt__refund_system": "99", "model": ""},
    )
    assert missing.status_code == 422 and "has no version 99" in missing.content.decode()
    assert not Run.objects.filter(parent_run=run).exists()

    answer = client.post(
        f"/runs/{run.id}/replay",
        {"mode": "recorded", "from_step": "", "state_patch": "", "model": "scripted-cheaper", "confirm": "yes"},
    )
    assert answer.status_code == 302
    replayed = Run.objects.get(parent_run=run)
    runtime.execute(replayed.id)
    models = set(replayed.spans.filter(kind="model").values_list("model", flat=True))
    assert models == {"scripted-cheaper"}
