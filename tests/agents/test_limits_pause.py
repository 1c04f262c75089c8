"""`pause` on breach: the run waits with a "Budget exceeded, continue?" request in the budget
queue; approving continues it from its checkpoint with the limit raised, rejecting ends it
failed. Through the API and a real Celery worker, like a reviewer would."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from agents.engine import runtime
from agents.engine.models import Run
from agents.engine.services import start_run
from approvals.models import ApprovalRequest
from approvals.services import decide
from tests.support.graphs import STALL
from tests.support.runs import node_names
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("stalled_nodes_released")]
BUDGET = 0.0002  # each node costs about $0.00015: two nodes run, the third waits for a decision


def run_detail(client: Any, run_id: str) -> dict[str, Any]:
    return client.get(f"/api/runs/{run_id}").json()


def _paused(client: Any, reviewer_client: Any, limits: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    started = client.post("/api/runs", {"agent": "limited_pause", "input": {}, "limits": limits or {"max_cost_usd": BUDGET}})
    assert started.status_code == 201, started.content
    run_id = started.json()["id"]
    wait_for(lambda: run_detail(client, run_id)["status"] == "waiting")

    def find() -> dict[str, Any] | None:
        items = reviewer_client.get("/api/approvals", status="pending", queue="budget").json()["items"]
        return next((a for a in items if a["run_id"] == run_id), None)

    return run_id, wait_for(find)


def test_approving_continues_the_run_with_the_limit_raised(celery_worker: Any, api: Any, engineer: Any, reviewer: Any) -> None:
    eng, rev = api(engineer), api(reviewer)
    run_id, request = _paused(eng, rev)
    run = run_detail(eng, run_id)
    spent = run["totals"]["cost"]
    assert run["pending_approvals"] == [request["id"]]
    [breach] = run["limit_breaches"]
    assert breach["message"] == f"max cost exceeded: ${spent:.6f} spent, limit $0.000200"
    assert (breach["action"], breach["approval_id"], breach["outcome"]) == ("pause", request["id"], "waiting for a decision")
    assert request["action"] == "run.over_limit" and request["requested_by"] == "engineer"
    assert request["summary"].startswith(f"Budget exceeded, continue? {breach['message']}.")
    # Proposed: past what is spent by the limit's own size.
    assert request["proposed_args"] == {"max_cost_usd": round(spent + BUDGET, 8)}

    # The reviewer's page offers approve, edit and reject; a budget request has no agent turn to answer.
    page = Client()
    page.force_login(reviewer)
    html = page.get(f"/approvals/{request['id']}/").content.decode()
    assert "Edit and approve" in html and 'value="reject"' in html
    assert "Respond to the agent" not in html

    decided = rev.post(f"/api/approvals/{request['id']}/decision", {"decision": "approve", "comment": "worth it"})
    assert decided.status_code == 200, decided.content
    wait_for(lambda: run_detail(eng, run_id)["status"] == "succeeded")
    run = run_detail(eng, run_id)
    assert run["output"] == {"log": ["one", "two", "three", "four"]}
    # Node three had not started when the run paused: every node ran once.
    assert node_names(run_id) == ["one", "two", "three", "four"]
    assert run["limits"]["max_cost_usd"] == round(spent + BUDGET, 8)
    assert run["limit_breaches"][0]["outcome"] == f"continued by reviewer: max cost raised to {round(spent + BUDGET, 8)}"


def test_rejecting_ends_the_run_failed_and_the_requester_may_not_approve(
    celery_worker: Any, api: Any, admin_user: Any, reviewer: Any
) -> None:
    adm, rev = api(admin_user), api(reviewer)
    run_id, request = _paused(adm, rev)
    own = adm.post(f"/api/approvals/{request['id']}/decision", {"decision": "approve"})
    assert own.status_code == 403 and "you started this run" in own.json()["detail"]

    decided = rev.post(f"/api/approvals/{request['id']}/decision", {"decision": "reject", "comment": "too expensive"})
    assert decided.status_code == 200, decided.content
    run = run_detail(adm, run_id)
    assert run["status"] == "failed"
    message = run["limit_breaches"][0]["message"]
    assert run["error"] == f"{message}; continuing was refused by reviewer: too expensive"
    assert run["limit_breaches"][0]["outcome"] == "refused by reviewer: the run failed"
    assert node_names(run_id) == ["one", "two"]
    # Nothing is left to resume it: the rejection did not requeue the run.
    assert Run.objects.get(id=run_id).status == "failed"


def test_a_reviewer_edits_the_new_limit_but_may_not_respond_or_go_below_what_is_spent(
    celery_worker: Any, api: Any, engineer: Any, reviewer: Any
) -> None:
    eng, rev = api(engineer), api(reviewer)
    run_id, request = _paused(eng, rev)
    url = f"/api/approvals/{request['id']}/decision"

    respond = rev.post(url, {"decision": "respond", "comment": "why so expensive?"})
    assert respond.status_code == 422 and "approve" in str(respond.json()["detail"])
    too_low = rev.post(url, {"decision": "edit", "args": {"max_cost_usd": 0.0001}})
    assert too_low.status_code == 422 and too_low.json()["detail"][0]["loc"] == ["body", "args", "max_cost_usd"]
    assert ApprovalRequest.objects.get(id=request["id"]).status == "pending"

    edited = rev.post(url, {"decision": "edit", "args": {"max_cost_usd": 1.0}})
    assert edited.status_code == 200, edited.content
    wait_for(lambda: run_detail(eng, run_id)["status"] == "succeeded")
    assert run_detail(eng, run_id)["limits"]["max_cost_usd"] == 1.0


def test_a_run_paused_inside_a_node_runs_that_node_again_when_approved(engineer: Any, reviewer: Any) -> None:
    """A node timeout pauses the run while node two is still running; approving gives the node
    twice the time and the run continues from its checkpoint: node two runs again, from its start."""
    run = start_run("limited_pause", {"stall_node": "two", "stall_seconds": 60}, engineer, limits={"node_timeout_seconds": 0.3})
    assert runtime.execute(run.id) == "waiting"
    request = ApprovalRequest.objects.get(run=run, status="pending")
    assert request.queue.name == "budget"
    assert request.proposed_args == {"node_timeout_seconds": 0.6}
    STALL.set()  # from now on node two returns at once
    decide(request.id, reviewer, "approve")
    assert Run.objects.get(id=run.id).status == "queued"
    assert runtime.execute(run.id) == "succeeded"
    run.refresh_from_db()
    assert run.output == {"log": ["one", "two", "three", "four"]}
    assert run.limits["node_timeout_seconds"] == 0.6
    assert node_names(str(run.id)) == ["one", "two", "two", "three", "four"]
