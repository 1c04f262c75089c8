"""Run limits in the worker: each limit breached in `fail` mode, a run within its limits left
alone, limits kept across a resume, and time waiting for a person not counted.

The `limited` test agent (tests/support/graphs.py) runs one → two → three → four, one model call
per node; a node may stall (until the test lets it go) or ask for approval first."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from agents.engine import runtime
from agents.engine.models import Run
from agents.engine.services import set_agent_limits, start_run
from approvals.models import ApprovalRequest
from approvals.services import decide
from tests.support.graphs import STALL
from tests.support.runs import node_names
from tests.support.waiting import wait_for
from traces.recording.models import Span

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("stalled_nodes_released")]


def limited_run(user: Any, limits: dict[str, Any] | None = None, agent: str = "limited", **input: Any) -> Run:
    return start_run(agent, {"topic": "limits", **input}, user, limits=limits)


def test_a_run_within_its_limits_is_unaffected(engineer: Any) -> None:
    """Generous limits change nothing: same output, steps and cost as a run without limits; the
    effective limits are recorded on the run, and no breach."""
    free = limited_run(engineer)
    limited = limited_run(engineer, {"max_steps": 10, "timeout_seconds": 60, "node_timeout_seconds": 30, "max_cost_usd": 1.0})
    assert runtime.execute(free.id) == "succeeded"
    assert runtime.execute(limited.id) == "succeeded"
    free.refresh_from_db()
    limited.refresh_from_db()
    assert limited.output == free.output == {"log": ["one", "two", "three", "four"]}
    assert (limited.steps, limited.cost) == (free.steps, free.cost) == (4, free.cost)
    assert limited.limits["max_steps"] == 10 and limited.limits["max_cost_usd"] == 1.0
    assert limited.limits["on_breach"] == "fail"
    assert sorted(limited.limits["set_for_run"]) == ["max_cost_usd", "max_steps", "node_timeout_seconds", "timeout_seconds"]
    assert limited.limit_breaches == [] and limited.error == ""
    assert 0 < limited.active_seconds < 60


def test_max_steps_fails_the_run_before_the_next_node(engineer: Any) -> None:
    run = limited_run(engineer, {"max_steps": 2})
    assert runtime.execute(run.id) == "failed"
    run.refresh_from_db()
    assert run.error == "max steps exceeded: 2 steps done, limit 2; node 'three' did not start"
    assert node_names(run) == ["one", "two"]
    [breach] = run.limit_breaches
    assert (breach["limit"], breach["used"], breach["allowed"], breach["node"]) == ("max_steps", 2, 2, "three")
    assert breach["action"] == "fail" and breach["outcome"] == "the run failed"


def test_max_cost_fails_the_run_once_spending_passes_it(engineer: Any) -> None:
    """Each node costs about $0.00015: a $0.0002 budget lets two nodes run, the third does not start."""
    run = limited_run(engineer, {"max_cost_usd": 0.0002})
    assert runtime.execute(run.id) == "failed"
    run.refresh_from_db()
    assert node_names(run) == ["one", "two"]
    assert run.cost > 0.0002
    assert run.error == f"max cost exceeded: ${run.cost:.6f} spent, limit $0.000200"
    assert run.limit_breaches[0]["limit"] == "max_cost_usd"


def test_timeout_ends_a_run_stuck_inside_one_node(engineer: Any) -> None:
    """Node two would stall for a minute: the run fails at its timeout, node three never runs,
    and the stuck node's span says why it stopped."""
    run = limited_run(engineer, {"timeout_seconds": 0.5}, stall_node="two", stall_seconds=60)
    assert runtime.execute(run.id) == "failed"
    run.refresh_from_db()
    assert run.error.startswith("timeout exceeded: ") and run.error.endswith(" s spent running, limit 0.5 s")
    assert run.limit_breaches[0]["node"] == "two"
    assert run.active_seconds >= 0.5
    two = Span.objects.get(run=run, kind="node", name="two")
    assert two.status == "error" and two.error.startswith("stopped: timeout exceeded")
    assert "three" not in node_names(run)


def test_node_timeout_ends_a_node_that_runs_too_long(engineer: Any) -> None:
    run = limited_run(engineer, {"node_timeout_seconds": 0.3}, stall_node="two", stall_seconds=60)
    assert runtime.execute(run.id) == "failed"
    run.refresh_from_db()
    assert run.error == "node timeout exceeded: node 'two' still running after 0.3 s"
    assert node_names(run) == ["one", "two"]
    # Let the abandoned node finish: what its thread writes then is refused (the lease is gone),
    # and it starts no further node.
    STALL.set()
    wait_for(lambda: not any(t.name == "steward-graph" for t in threading.enumerate()))
    assert Run.objects.get(id=run.id).status == "failed"
    assert node_names(run) == ["one", "two"]


def test_limits_survive_a_resume(engineer: Any, reviewer: Any, admin_user: Any) -> None:
    """The run's own max_steps outlives a pause for approval, even though the agent's limits
    change meanwhile; steps are counted across both executions."""
    run = limited_run(engineer, {"max_steps": 3}, ask_in="two")
    assert runtime.execute(run.id) == "waiting"
    set_agent_limits("limited", {"max_steps": 100}, admin_user)
    request = ApprovalRequest.objects.get(run=run, status="pending")
    decide(request.id, reviewer, "approve")
    assert runtime.execute(run.id) == "failed"
    run.refresh_from_db()
    assert run.limits["max_steps"] == 3
    # one, two (paused at its gate), two again after the approval: three steps.
    assert node_names(run) == ["one", "two", "two"]
    assert run.error == "max steps exceeded: 3 steps done, limit 3; node 'three' did not start"


def test_time_waiting_for_a_person_is_not_counted(engineer: Any, reviewer: Any) -> None:
    """A run that waited an hour for its approval is still within its 30 s timeout: only the
    time workers spent on it counts."""
    run = limited_run(engineer, {"timeout_seconds": 30}, ask_in="two")
    assert runtime.execute(run.id) == "waiting"
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Run.objects.filter(id=run.id).update(created_at=an_hour_ago, started_at=an_hour_ago, enqueued_at=an_hour_ago)
    decide(ApprovalRequest.objects.get(run=run, status="pending").id, reviewer, "approve")
    assert runtime.execute(run.id) == "succeeded"
    run.refresh_from_db()
    assert run.limit_breaches == [] and 0 < run.active_seconds < 30


def test_a_replay_without_limits_takes_its_agents_and_keeps_them(engineer: Any, admin_user: Any) -> None:
    """A run created without limits (a replay, or an old run) gets its agent's limits when a
    worker first takes it, and keeps them."""
    set_agent_limits("limited", {"max_steps": 1}, admin_user)
    run = limited_run(engineer)
    Run.objects.filter(id=run.id).update(limits={})
    assert runtime.execute(run.id) == "failed"
    run.refresh_from_db()
    assert run.limits["max_steps"] == 1 and run.error.startswith("max steps exceeded: 1 steps done, limit 1")


def test_a_run_failed_on_a_limit_is_not_retried_in_place_but_can_be_replayed(engineer: Any, api: Any) -> None:
    """In place the run keeps its limits and would stop again at once: retry says so (409) and
    points at replay, whose new run takes the agent's limits (none here) and finishes."""
    run = limited_run(engineer, {"max_steps": 2})
    assert runtime.execute(run.id) == "failed"
    client = api(engineer)
    refused = client.post(f"/api/runs/{run.id}/retry")
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith("this run failed on a limit (max steps exceeded: 2 steps done, limit 2")
    assert "replay it instead" in refused.json()["detail"]
    assert Run.objects.get(id=run.id).status == "failed"

    replayed = client.post(f"/api/runs/{run.id}/replay", {"mode": "live"})
    assert replayed.status_code == 201, replayed.content
    assert runtime.execute(replayed.json()["id"]) == "succeeded"


@pytest.mark.postgres
def test_breaches_appended_at_once_all_stay(engineer: Any) -> None:
    from django.db import connection, transaction

    run = limited_run(engineer)
    first_locked, second_done = threading.Event(), threading.Event()

    def first() -> None:
        # Holds the row lock while the second writer tries to append.
        with transaction.atomic():
            Run.append_limit_breach(run.id, {"limit": "tokens"})
            first_locked.set()
            second_done.wait(1.0)
        connection.close()

    def second() -> None:
        first_locked.wait(10)
        Run.append_limit_breach(run.id, {"limit": "steps"})
        second_done.set()
        connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    run.refresh_from_db()
    assert sorted(entry["limit"] for entry in run.limit_breaches) == ["steps", "tokens"]
