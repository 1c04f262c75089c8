"""Before promoting a prompt version: the last finished runs replayed with it, attached to the
promotion request, through the service, the API and the request page."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from agents.engine import runtime
from agents.engine.models import Run
from agents.engine.services import start_run
from agents.prompt_admin import services as prompt_services
from agents.prompt_admin.regression import replay_for_promotion
from approvals.models import ApprovalRequest
from approvals.services import decide
from console.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from console.kernel.models import AuditEvent
from traces.recording.models import Span

pytestmark = pytest.mark.django_db(transaction=True)

PROMPT = "refund_system"
SIGN_OFF = "Regression-tested sign-off"


def finished_runs(user: Any, agent: str, inputs: list[dict[str, Any]]) -> list[Run]:
    """Runs executed here, oldest first."""
    runs = []
    for data in inputs:
        run = start_run(agent, data, user)
        runtime.execute(run.id)
        run.refresh_from_db()
        runs.append(run)
    return runs


def refunds(user: Any, count: int) -> list[Run]:
    return finished_runs(user, "refund", [{"order_id": f"R-{i}", "amount": 20 + i, "reason": "broken"} for i in range(count)])


@pytest.fixture
def promotion(admin_user: Any) -> ApprovalRequest:
    """A pending request to move refund_system@production to a new v2 with another sign-off."""
    template = [
        {"role": "system", "content": f"You are the refund assistant of {{shop_name}}.\nSign-off: {SIGN_OFF}"},
        {"role": "placeholder", "name": "history"},
    ]
    v2 = prompt_services.save_version(admin_user, PROMPT, template=template, message="new sign-off")
    state, request = prompt_services.move_label(admin_user, PROMPT, "production", v2.number)
    assert state == "pending" and isinstance(request, ApprovalRequest)
    return request


def test_the_last_finished_runs_are_replayed_with_the_candidate_as_a_batch(
    engineer: Any, second_admin: Any, promotion: ApprovalRequest
) -> None:
    """The newest finished runs of the agents that pinned the prompt (a run of another agent is
    left out) are replayed with the candidate version: recorded up to the first model call that
    renders the prompt, live from there; the batch is attached to the request and audited."""
    old, middle, newest = refunds(engineer, 3)
    finished_runs(engineer, "stock_check", [{"sku": "SKU-1"}])
    replays = replay_for_promotion(promotion, second_admin, limit=2)
    assert [r.parent_run_id for r in replays] == [newest.id, middle.id]

    promotion.refresh_from_db()
    (entry,) = promotion.regression_batches
    assert entry["version"] == 2 and entry["runs"] == 2 and entry["by"] == "admin2" and entry["skipped"] == []
    first_prompt_call = (
        Span.objects.filter(run=newest, kind="model", prompt_version__prompt__name=PROMPT).order_by("seq").first()
    )
    assert first_prompt_call is not None
    for new in replays:
        replay = Run.objects.get(id=new.id).metadata["replay"]
        assert replay["batch"] == entry["batch"] and replay["promotion_request"] == str(promotion.id)
        assert replay["mode"] == "mixed" and replay["live_from_step"] == first_prompt_call.step
        assert runtime.execute(new.id) == "succeeded"
        new.refresh_from_db()
        assert new.output["answer"].endswith(SIGN_OFF)
        assert new.prompt_versions[PROMPT]["version"] == 2
    assert not Run.objects.filter(parent_run=old).exists()
    assert newest.output["answer"].endswith("Steward Shop customer care"), "originals are untouched"
    assert AuditEvent.objects.filter(action="prompt.regression_replayed", object_id=str(promotion.id)).exists()

    # A second batch replays real traffic again, never the first batch's replays.
    again = replay_for_promotion(promotion, second_admin, limit=5)
    assert {r.parent_run_id for r in again} == {old.id, middle.id, newest.id}
    promotion.refresh_from_db()
    assert len(promotion.regression_batches) == 2


def test_what_cannot_be_replayed(
    engineer: Any, reviewer: Any, admin_user: Any, second_admin: Any, promotion: ApprovalRequest
) -> None:
    """No finished run yet, a bad limit, a user without the role or who cannot see the request,
    a request that is not a promotion or no longer pending: each refused, nothing replayed."""
    with pytest.raises(Conflict, match="no finished runs"):
        replay_for_promotion(promotion, second_admin)
    refunds(engineer, 1)
    with pytest.raises(Invalid):
        replay_for_promotion(promotion, second_admin, limit=0)
    with pytest.raises(Forbidden):
        replay_for_promotion(promotion, reviewer)
    with pytest.raises(NotFound):
        replay_for_promotion(promotion, engineer)
    gated = start_run("refund", {"order_id": "G-1", "amount": 500, "reason": "broken"}, engineer)
    runtime.execute(gated.id)
    gate = ApprovalRequest.objects.get(run=gated)
    with pytest.raises(Invalid, match="not a prompt promotion"):
        replay_for_promotion(gate, second_admin)
    decide(promotion.id, second_admin, "reject")
    promotion.refresh_from_db()
    with pytest.raises(Conflict, match="already rejected"):
        replay_for_promotion(promotion, second_admin)
    assert not Run.objects.filter(parent_run__isnull=False).exists()


def test_the_api_starts_a_regression(
    engineer: Any, reviewer: Any, second_admin: Any, promotion: ApprovalRequest, api: Any
) -> None:
    """POST /api/prompts/{name}/promotions/{id}/regression: 201 with the queued replays and their
    diff links; 404 for another prompt or a request the caller cannot see; 403 without the role;
    422 for a bad limit."""
    refunds(engineer, 2)
    path = f"/api/prompts/{PROMPT}/promotions/{promotion.id}/regression"
    response = api(second_admin).post(path, {"limit": 1})
    assert response.status_code == 201, response.content
    body = response.json()
    (run,) = body["runs"]
    assert body["version"] == 2 and body["prompt"] == PROMPT and body["skipped"] == []
    assert run["diff_url"] == f"/runs/{run['source_run_id']}/diff/{run['id']}/" and run["mode"] == "mixed"
    assert Run.objects.get(id=run["id"]).metadata["replay"]["batch"] == body["batch"]

    default = api(second_admin).post(path, raw="")
    assert default.status_code == 201 and len(default.json()["runs"]) == 2, "limit defaults to 5: both runs"
    assert api(second_admin).post(f"/api/prompts/order_summary_system/promotions/{promotion.id}/regression").status_code == 404
    assert api(engineer).post(path, {"limit": 1}).status_code == 404
    assert api(reviewer).post(path, {"limit": 1}).status_code == 403
    bad = api(second_admin).post(path, {"limit": 500})
    assert bad.status_code == 422 and "limit" in str(bad.json()["detail"])
    promotion.refresh_from_db()
    assert len(promotion.regression_batches) == 2


def test_the_request_page_offers_the_replays_and_shows_their_results(
    engineer: Any, admin_user: Any, second_admin: Any, promotion: ApprovalRequest
) -> None:
    """On the promotion's page a reviewer replays the last N runs with the proposed version and
    sees each replay's status and a link to its diff; the panel polls while replays run."""
    refunds(engineer, 2)
    client = Client()
    client.force_login(second_admin)
    page = client.get(f"/approvals/{promotion.id}/").content.decode()
    assert "Replay last N runs with this version" in page and "No runs replayed with this version yet." in page

    response = client.post(f"/approvals/{promotion.id}/regression", {"limit": "2"})
    assert response.status_code == 302 and response["Location"] == f"/approvals/{promotion.id}/#promotion-regression"
    replays = list(Run.objects.filter(metadata__replay__promotion_request=str(promotion.id)))
    assert len(replays) == 2
    page = client.get(f"/approvals/{promotion.id}/").content.decode()
    assert "Replaying 2 runs with this version." in page
    assert page.count('class="regression-row"') == 2 and 'hx-trigger="every 2s"' in page
    for new in replays:
        assert f"/runs/{new.parent_run_id}/diff/{new.id}/" in page
        runtime.execute(new.id)
    fragment = client.get(f"/approvals/{promotion.id}/regression").content.decode()
    assert "<strong>2 of 2</strong>" in fragment and fragment.count('<span class="status succeeded">') == 4
    assert "every 2s" not in fragment, "polling stops once every replay has finished"

    bad = client.post(f"/approvals/{promotion.id}/regression", {"limit": "lots"}, follow=True).content.decode()
    assert "N must be a whole number." in bad
    decide(promotion.id, second_admin, "approve")
    decided = client.get(f"/approvals/{promotion.id}/").content.decode()
    assert "Replay last N runs with this version" not in decided, "no new replays once decided"
    assert decided.count('class="regression-row"') == 2, "the results stay"


def test_other_requests_have_no_regression_panel(engineer: Any, reviewer: Any) -> None:
    gated = start_run("refund", {"order_id": "G-2", "amount": 500, "reason": "broken"}, engineer)
    runtime.execute(gated.id)
    gate = ApprovalRequest.objects.get(run=gated)
    client = Client()
    client.force_login(reviewer)
    page = client.get(f"/approvals/{gate.id}/").content.decode()
    assert page.count("promotion-regression") == 0
    assert client.get(f"/approvals/{gate.id}/regression").status_code == 404
