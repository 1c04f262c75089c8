"""An answer the agent itself refuses (its node raises on the value it was resumed with) sends the
request back to pending with the agent's error, and the run waits at the same interrupt; a later
answer it accepts finishes the run. A failure after the resumed node finished still fails the run.

The agent is written the LangGraph docs' way (tests/support/refusing_agents.py); a real worker runs
it, only the model is faked.
"""

from __future__ import annotations

import html
import json
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from agents.engine import runtime
from agents.engine.checkpointer import checkpointer
from agents.engine.models import Run
from agents.engine.registry import get_agent
from approvals.models import ActionLink, ApprovalRequest
from approvals.services import decide_resumes
from tests.support.live import open_socket, received, run_async
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

REFUSED = "ValueError: units must be a positive whole number, got 'a dozen'"


def _start(client: Any, item: str, agent: str = "order_units") -> str:
    response = client.post("/api/runs", {"agent": agent, "input": {"item": item}})
    assert response.status_code == 201, response.content
    return str(response.json()["id"])


def _pending_request(client: Any, run_id: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        items = client.get("/api/approvals", status="pending").json()["items"]
        mine = [a for a in items if a["run_id"] == run_id]
        return mine[0] if mine else None

    return wait_for(find)


def _answer(client: Any, approval_id: str, value: Any) -> None:
    response = client.post(f"/api/approvals/{approval_id}/decision", {"decision": "answer", "value": value})
    # Steward takes any JSON for a question without a response_schema: only the node judges it.
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "responded"


def _run_ended(client: Any, run_id: str) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        run = client.get(f"/api/runs/{run_id}").json()
        return run if run["status"] in ("succeeded", "failed", "cancelled") else None

    return wait_for(ended)


def _thread_state(run_id: str, agent: str = "order_units") -> Any:
    run = Run.objects.get(id=run_id)
    spec = get_agent(agent)
    assert spec is not None
    with checkpointer() as saver:
        return runtime.compiled_graph(spec, saver).get_state({"configurable": {"thread_id": run.thread_id}})


def _two_questions(eng: Any, rev: Any, parts: list[str]) -> tuple[str, dict[str, ApprovalRequest]]:
    """A run of `order_parts` waiting at its two questions: its id, and its requests by question."""
    response = eng.post("/api/runs", {"agent": "order_parts", "input": {"parts": parts}})
    assert response.status_code == 201, response.content
    run_id = str(response.json()["id"])

    def both() -> list[dict[str, Any]] | None:
        items = [a for a in rev.get("/api/approvals", status="pending").json()["items"] if a["run_id"] == run_id]
        return items if len(items) == 2 else None

    return run_id, {r["interrupt"]["value"]: ApprovalRequest.objects.get(id=r["id"]) for r in wait_for(both)}


def test_a_refused_answer_reopens_the_request_and_a_good_one_finishes_the_run(
    celery_worker: Any, api: Any, client_for: Any, engineer: Any, reviewer: Any
) -> None:
    eng, rev = api(engineer), api(reviewer)
    run_id = _start(eng, "bolts")
    request = _pending_request(rev, run_id)
    assert request["interrupt"]["kind"] == "free_form"
    assert request["interrupt"]["value"]["question"] == "How many units of bolts should we order?"
    interrupt_id = ApprovalRequest.objects.get(id=request["id"]).interrupt_id

    # The request is overdue (its breach told), and a link was mailed for it.
    ApprovalRequest.objects.filter(id=request["id"]).update(
        due_at=timezone.now() - timedelta(minutes=5), breach_notified_at=timezone.now()
    )
    link = ActionLink.objects.create(
        request_id=request["id"], user=reviewer, decision="approve", expires_at=timezone.now() + timedelta(hours=1)
    )
    _answer(rev, request["id"], "a dozen")

    def reopened() -> dict[str, Any] | None:
        shown = rev.get(f"/api/approvals/{request['id']}").json()
        return shown if shown["status"] == "pending" else None

    shown = wait_for(reopened)
    reopened_row = ApprovalRequest.objects.get(id=request["id"])
    # A fresh SLA (the queue's timeout rule would answer again at once) and no round-one link.
    assert reopened_row.due_at > timezone.now() and reopened_row.breach_notified_at is None
    link.refresh_from_db()
    assert link.expires_at <= timezone.now()
    assert shown["last_resume_error"] == REFUSED
    assert shown["resume_refused_at"] is not None
    assert shown["decided_by"] is None and shown["decided_at"] is None
    (first,) = shown["decisions"]
    assert first["user"] == "reviewer" and first["args"] == {"value": "a dozen"} and first["superseded_at"] is not None

    run = eng.get(f"/api/runs/{run_id}").json()
    assert run["status"] == "waiting" and run["error"] in ("", None)
    # The checkpoint never moved past the question: the same interrupt waits, the answer is not in state.
    state = _thread_state(run_id)
    assert [i.id for i in state.interrupts] == [interrupt_id]
    assert state.next == ("ask_units",) and state.values["units"] == 0

    steps = eng.get(f"/api/runs/{run_id}/steps").json()
    refused_gate = [s for s in steps if s["kind"] == "gate" and s["name"] == "answer refused"]
    assert [(s["status"], s["input"], s["output"]) for s in refused_gate] == [
        ("error", {"interrupt_id": interrupt_id}, {"error": REFUSED})
    ]
    assert any(s["kind"] == "node" and s["name"] == "ask_units" and s["status"] == "error" for s in steps)
    # Written with the checkpoint the run still waits at.
    assert refused_gate[0]["checkpoint_id"] == state.config["configurable"]["checkpoint_id"]

    browser = client_for(reviewer)
    page = html.unescape(browser.get(reverse("approval_detail", args=[request["id"]])).content.decode())
    assert f"The agent could not use this answer: {REFUSED}" in page
    assert "approval.answer_refused" in page  # the history says what happened
    pane = html.unescape(browser.get(reverse("approval_detail", args=[request["id"]]), {"pane": "1"}).content.decode())
    assert f"The agent could not use this answer: {REFUSED}" in pane and 'id="answer-json-form"' in pane

    async def live_outcome() -> None:
        # What an open request page is sent live: its outcome section, now saying why it is pending again.
        communicator, accepted, _ = await open_socket(f"subscribe=approvals&view=approval:{request['id']}", reviewer)
        assert accepted is True
        sent = html.unescape(await received(communicator))
        await communicator.disconnect()
        outcome = sent[sent.index('<section id="approval-outcome" hx-swap-oob="true">'):]
        assert f"The agent could not use this answer: {REFUSED}" in outcome[: outcome.index("</section>")]

    run_async(live_outcome)

    # The same reviewer answers again, with what the node takes.
    _answer(rev, request["id"], 12)
    finished = _run_ended(eng, run_id)
    assert finished["status"] == "succeeded", finished
    assert finished["output"] == {"units": 12, "placed": "12 x bolts"}
    assert _thread_state(run_id).values["units"] == 12
    done = rev.get(f"/api/approvals/{request['id']}").json()
    assert done["status"] == "responded"
    assert [(d["args"], d["superseded_at"] is None) for d in done["decisions"]] == [({"value": "a dozen"}, False), ({"value": 12}, True)]
    page = html.unescape(browser.get(reverse("approval_detail", args=[request["id"]])).content.decode())
    assert "The agent could not use this answer" not in page  # answered: no longer a question
    # A trace export keeps why the first answer was set aside.
    (exported,) = json.loads(eng.get(f"/api/runs/{run_id}/export").content)["approvals"]
    assert exported["last_resume_error"] == REFUSED
    assert [d["superseded_at"] is not None for d in exported["decisions"]] == [True, False]


def test_two_answers_refused_at_once_each_keep_their_own_error(celery_worker: Any, api: Any, engineer: Any, reviewer: Any) -> None:
    run_id, by_part = _two_questions(api(engineer), api(reviewer), ["bolts", "clips"])
    bolts, clips = by_part["How many bolts?"], by_part["How many clips?"]
    decide_resumes(Run.objects.get(id=run_id), reviewer, {bolts.interrupt_id: "many", clips.interrupt_id: 0})

    def reopened() -> dict[str, str] | None:
        errors = dict(ApprovalRequest.objects.filter(run_id=run_id, status="pending").values_list("interrupt_id", "last_resume_error"))
        return errors if len(errors) == 2 else None

    assert wait_for(reopened) == {
        bolts.interrupt_id: "ValueError: units must be a positive whole number, got 'many'",
        clips.interrupt_id: "ValueError: units must be a positive whole number, got 0",
    }
    assert Run.objects.get(id=run_id).status == "waiting"
    assert sorted(i.id for i in _thread_state(run_id, "order_parts").interrupts) == sorted([bolts.interrupt_id, clips.interrupt_id])


def test_an_async_node_refusing_its_answer_asks_again(celery_worker: Any, api: Any, engineer: Any, reviewer: Any) -> None:
    eng, rev = api(engineer), api(reviewer)
    run_id = _start(eng, "screws", "order_units_async")
    request = _pending_request(rev, run_id)
    interrupt_id = ApprovalRequest.objects.get(id=request["id"]).interrupt_id

    _answer(rev, request["id"], -3)

    def reopened() -> dict[str, Any] | None:
        shown = rev.get(f"/api/approvals/{request['id']}").json()
        return shown if shown["status"] == "pending" else None

    assert wait_for(reopened)["last_resume_error"] == "ValueError: units must be a positive whole number, got -3"
    assert eng.get(f"/api/runs/{run_id}").json()["status"] == "waiting"
    assert [i.id for i in _thread_state(run_id, "order_units_async").interrupts] == [interrupt_id]

    _answer(rev, request["id"], 7)
    finished = _run_ended(eng, run_id)
    assert finished["status"] == "succeeded", finished
    assert finished["output"] == {"units": 7, "placed": "7 x screws"}


@pytest.mark.parametrize("agent", ["order_units_nested", "order_units_two_deep", "order_units_called"])
def test_a_question_inside_a_subgraph_asks_again_when_its_answer_is_refused(
    celery_worker: Any, api: Any, engineer: Any, reviewer: Any, agent: str
) -> None:
    """The refused value sits in the subgraph's own checkpoint namespace (one or two levels
    down, or under the node that invokes the subgraph itself): it is taken back there, and the
    run waits at the same interrupt."""
    eng, rev = api(engineer), api(reviewer)
    run_id = _start(eng, "washers", agent)
    request = _pending_request(rev, run_id)
    interrupt_id = ApprovalRequest.objects.get(id=request["id"]).interrupt_id
    _answer(rev, request["id"], "a few")

    def reopened() -> dict[str, Any] | None:
        shown = rev.get(f"/api/approvals/{request['id']}").json()
        assert eng.get(f"/api/runs/{run_id}").json()["status"] != "failed"
        return shown if shown["status"] == "pending" else None

    assert wait_for(reopened)["last_resume_error"] == "ValueError: units must be a positive whole number, got 'a few'"
    assert eng.get(f"/api/runs/{run_id}").json()["status"] == "waiting"
    state = _thread_state(run_id, agent)
    assert [i.id for i in state.interrupts] == [interrupt_id] and state.values["units"] == 0

    _answer(rev, request["id"], 30)
    finished = _run_ended(eng, run_id)
    assert finished["status"] == "succeeded", finished
    assert finished["output"] == {"units": 30, "placed": "30 x washers"}
    assert rev.get(f"/api/approvals/{request['id']}").json()["status"] == "responded"


def test_a_later_node_failing_still_fails_the_run(celery_worker: Any, api: Any, engineer: Any, reviewer: Any) -> None:
    eng, rev = api(engineer), api(reviewer)
    run_id = _start(eng, "nuts")
    request = _pending_request(rev, run_id)

    # The node takes 5000 units; the next node (the supplier) fails on them: that is the run failing.
    _answer(rev, request["id"], 5000)
    finished = _run_ended(eng, run_id)
    assert finished["status"] == "failed"
    assert "the supplier takes at most 1000 units, not 5000" in finished["error"]
    after = rev.get(f"/api/approvals/{request['id']}").json()
    assert after["status"] == "responded" and after["last_resume_error"] == ""
    assert [d["superseded_at"] for d in after["decisions"]] == [None]


def test_of_two_questions_at_once_only_the_refused_one_asks_again(celery_worker: Any, api: Any, engineer: Any, reviewer: Any) -> None:
    eng, rev = api(engineer), api(reviewer)
    run_id, by_part = _two_questions(eng, rev, ["nuts", "washers"])
    nuts, washers = by_part["How many nuts?"], by_part["How many washers?"]
    nuts_interrupt, washers_interrupt = nuts.interrupt_id, washers.interrupt_id
    # Both answers in one transaction (as the LangGraph API's Command(resume={id: value, ...})):
    # one resume runs both tasks of the step; one of them refuses its answer.
    decide_resumes(Run.objects.get(id=run_id), reviewer, {nuts_interrupt: 40, washers_interrupt: "lots"})

    def settled() -> bool:
        # Waiting at the washers' question alone.
        shown = rev.get(f"/api/approvals/{washers.id}").json()
        run = eng.get(f"/api/runs/{run_id}").json()
        assert run["status"] != "failed", run
        return shown["status"] == "pending" and run["status"] == "waiting" and [
            i.id for i in _thread_state(run_id, "order_parts").interrupts
        ] == [washers_interrupt]

    wait_for(settled)
    assert rev.get(f"/api/approvals/{washers.id}").json()["last_resume_error"] == (
        "ValueError: units must be a positive whole number, got 'lots'"
    )
    kept = rev.get(f"/api/approvals/{nuts.id}").json()
    assert kept["status"] == "responded" and kept["last_resume_error"] == ""

    _answer(rev, str(washers.id), 200)
    finished = _run_ended(eng, run_id)
    assert finished["status"] == "succeeded", finished
    assert finished["output"] == {"ordered": ["200 x washers", "40 x nuts"]}


def test_an_approved_gated_tool_failing_fails_the_run(celery_worker: Any, api: Any, engineer: Any, reviewer: Any) -> None:
    eng, rev = api(engineer), api(reviewer)
    response = eng.post("/api/runs", {"agent": "charge_gate", "input": {"order_id": "A-7"}})
    assert response.status_code == 201, response.content
    run_id = str(response.json()["id"])
    request = _pending_request(rev, run_id)

    # Steward's gate resumes with its own checked decision: the tool failing after it is the action's failure.
    approved = rev.post(f"/api/approvals/{request['id']}/decision", {"decision": "approve"})
    assert approved.status_code == 200, approved.content
    finished = _run_ended(eng, run_id)
    assert finished["status"] == "failed"
    assert "the payment provider is down (charging A-7)" in finished["error"]
    after = rev.get(f"/api/approvals/{request['id']}").json()
    assert after["status"] == "approved" and after["last_resume_error"] == ""


def test_a_node_that_acted_on_its_answer_then_failed_fails_the_run(
    celery_worker: Any, api: Any, engineer: Any, reviewer: Any
) -> None:
    """The node ordered (a tool call) and then its notification failed: asking again would have
    a reviewer order twice. The run fails; the request stays answered."""
    eng, rev = api(engineer), api(reviewer)
    run_id = _start(eng, "gaskets", "order_then_notify")
    request = _pending_request(rev, run_id)
    _answer(rev, request["id"], 40)
    finished = _run_ended(eng, run_id)
    assert finished["status"] == "failed" and "the notification service is down" in finished["error"]
    after = rev.get(f"/api/approvals/{request['id']}").json()
    assert after["status"] == "responded" and after["last_resume_error"] == ""
