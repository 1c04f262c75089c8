"""A resume through the SDK is a decision: only someone allowed to decide the interrupt's
approval request may resume it, recorded and audited as that person's decision; the resumed
run is the same Steward run. With the async client (`get_client`) and the sync one."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.schema import Command

from agents.engine.models import Run
from approvals.models import ApprovalRequest, Decision, Queue
from console.kernel.models import AuditEvent
from tests.support.interrupt_agents import SENT_EMAILS
from tests.support.users import make_user
from tests.support.waiting import wait_for
from traces.recording.models import Span

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]


def _refused(call: Any) -> tuple[int, Any]:
    with pytest.raises(httpx.HTTPStatusError) as caught:
        call()
    return caught.value.response.status_code, caught.value.response.json()


def test_a_question_is_answered_by_a_reviewer_not_by_who_asked(
    sdk_url: str, key_of: Any, admin_user: Any, engineer: Any, reviewer: Any, api: Any
) -> None:
    # The default queue keeps questions for its reviewers (by default the requester may answer
    # them: test_the_requester_answers_its_own_question_but_not_a_gated_refund).
    Queue.objects.filter(name="default").update(requester_may_answer=Queue.RequesterMayAnswer.NEVER)
    # An admin reviews every queue, but not the requests of runs they started (four-eyes).
    asker = get_sync_client(url=sdk_url, api_key=key_of(admin_user))
    answerer = get_sync_client(url=sdk_url, api_key=key_of(reviewer))
    tid = asker.threads.create()["thread_id"]
    run = asker.runs.create(tid, "question", input={"topic": "order"})
    asker.runs.join(tid, run["run_id"])

    state = asker.threads.get_state(tid)
    (task,) = state["tasks"]
    (pending,) = task["interrupts"]
    assert pending["value"] == "What is the order id?" and pending["id"]
    assert pending["response_schema"] == {"type": "string", "pattern": "^A-[0-9]+$"}
    assert state["interrupts"] == [pending] and state["next"] == ["ask"]
    assert asker.threads.get(tid)["interrupts"] == {task["id"]: [pending]}
    request = ApprovalRequest.objects.get(run_id=run["run_id"])
    assert request.interrupt_id == pending["id"]

    # Who started the run may not answer its request (four-eyes): 403 and nothing changes.
    status, body = _refused(lambda: asker.runs.create(tid, "question", command=Command(resume="A-1")))
    assert status == 403 and "someone else" in body["detail"]
    # An engineer who reviews no queue neither.
    bystander = get_sync_client(url=sdk_url, api_key=key_of(engineer))
    status, body = _refused(lambda: bystander.runs.create(tid, "question", command=Command(resume="A-1")))
    assert status == 403 and "not a reviewer" in body["detail"]
    # Nor change the state or copy the thread around the request.
    assert _refused(lambda: asker.threads.update_state(tid, {"answer": "A-9"}, as_node="ask"))[0] == 409
    assert _refused(lambda: asker.threads.copy(tid))[0] == 409
    # A value the interrupt's schema refuses, an id that is not pending: nothing changes either.
    status, body = _refused(lambda: answerer.runs.create(tid, "question", command=Command(resume="B-2")))
    assert status == 422 and "does not match" in str(body["detail"])
    status, _ = _refused(lambda: answerer.runs.create(tid, "question", command=Command(resume={"nope": "A-1", pending["id"]: "A-1"})))
    assert status == 422
    request.refresh_from_db()
    assert request.status == "pending" and not Decision.objects.filter(request=request).exists()
    assert Run.objects.get(id=run["run_id"]).status == "waiting"

    # The reviewer's resume, by the interrupt's id: the same Steward run goes on.
    resumed = answerer.runs.create(tid, "question", command=Command(resume={pending["id"]: "A-12"}))
    assert resumed["run_id"] == run["run_id"]
    assert answerer.runs.join(tid, run["run_id"]) == {"topic": "order", "answer": "A-12"}
    assert answerer.runs.get(tid, run["run_id"])["status"] == "success"
    assert asker.threads.get(tid)["status"] == "idle"

    request.refresh_from_db()
    assert request.status == "responded" and request.decided_by == reviewer
    (decision,) = Decision.objects.filter(request=request)
    assert decision.user == reviewer and decision.args == {"value": "A-12"}
    assert AuditEvent.objects.filter(action="approval.answer", actor=reviewer, object_id=str(request.id)).exists()
    steward = api(engineer).get(f"/api/runs/{run['run_id']}").json()
    assert steward["status"] == "succeeded" and steward["output"] == {"answer": "A-12"}
    assert Span.objects.filter(run_id=run["run_id"], kind="node", name="ask").count() == 2


def test_the_requester_answers_its_own_question_but_not_a_gated_refund(
    sdk_url: str, key_of: Any, engineer: Any, reviewer: Any
) -> None:
    """By default (the queue's `requester_may_answer`) a chat front-end answers its user's
    question with the user's key; a gated refund still needs a reviewer. The user here only starts
    runs: no reviewer group."""
    client = get_sync_client(url=sdk_url, api_key=key_of(engineer))
    tid = client.threads.create()["thread_id"]
    run = client.runs.create(tid, "question", input={"topic": "order"})
    client.runs.join(tid, run["run_id"])
    (pending,) = client.threads.get_state(tid)["interrupts"]

    resumed = client.runs.create(tid, "question", command=Command(resume={pending["id"]: "A-77"}))
    assert resumed["run_id"] == run["run_id"]
    assert client.runs.join(tid, run["run_id"]) == {"topic": "order", "answer": "A-77"}
    assert client.runs.get(tid, run["run_id"])["status"] == "success"
    request = ApprovalRequest.objects.get(run_id=run["run_id"])
    assert request.status == "responded" and request.decided_by == engineer
    assert AuditEvent.objects.filter(action="approval.answer", actor=engineer, object_id=str(request.id)).exists()

    refund_thread = client.threads.create()["thread_id"]
    refund = client.runs.create(refund_thread, "refund", input={"order_id": f"M-{uuid.uuid4().hex[:10]}", "amount": 250, "reason": "x"})
    client.runs.join(refund_thread, refund["run_id"])
    assert client.threads.get(refund_thread)["status"] == "interrupted"
    status, body = _refused(lambda: client.runs.create(refund_thread, "refund", command=Command(resume={"decision": "approve"})))
    assert status == 403 and "not a reviewer" in body["detail"]
    gate = ApprovalRequest.objects.get(run_id=refund["run_id"])
    assert gate.status == "pending" and not Decision.objects.filter(request=gate).exists()
    assert Run.objects.get(id=refund["run_id"]).status == "waiting"

    # The reviewer resumes it as usual.
    answerer = get_sync_client(url=sdk_url, api_key=key_of(reviewer))
    answerer.runs.create(refund_thread, "refund", command=Command(resume={"decision": "approve"}))
    assert answerer.runs.join(refund_thread, refund["run_id"])
    assert answerer.runs.get(refund_thread, refund["run_id"])["status"] == "success"


def test_middleware_decisions_resume_in_their_own_shape_async(sdk_url: str, key_of: Any, engineer: Any, reviewer: Any) -> None:
    to = f"{uuid.uuid4().hex[:10]}@example.test"
    engineer_key, reviewer_key = key_of(engineer), key_of(reviewer)

    async def scenario() -> tuple[dict[str, Any], Any, Any]:
        asker = get_client(url=sdk_url, api_key=engineer_key)
        answerer = get_client(url=sdk_url, api_key=reviewer_key)
        thread = await asker.threads.create(metadata={"app": "chat"})
        tid = thread["thread_id"]
        waiting = await asker.runs.wait(tid, "hitl_email", input={"request": f"email {to} about Hi"})
        (pending,) = waiting["__interrupt__"]
        assert pending["value"]["action_requests"][0]["args"]["to"] == to
        # The middleware's own answer shape, not Steward's.
        with pytest.raises(httpx.HTTPStatusError) as malformed:
            await answerer.runs.create(tid, "hitl_email", command=Command(resume={"type": "approve"}))
        after = await answerer.runs.wait(
            tid, "hitl_email", command=Command(resume={pending["id"]: {"decisions": [{"type": "approve"}]}})
        )
        runs = await answerer.runs.list(tid)
        return after, malformed.value.response, runs

    after, malformed, runs = asyncio.run(scenario())
    assert malformed.status_code == 422
    assert after["messages"][-1]["type"] == "ai" and after["messages"][-1]["content"].startswith("done:")
    assert SENT_EMAILS[to] == [{"subject": "Hi", "body": "hello"}]
    (only,) = runs
    assert only["status"] == "success"
    request = ApprovalRequest.objects.get(run_id=only["run_id"])
    assert request.status == "approved" and request.decided_by == reviewer


def test_a_resume_the_agent_refuses_leaves_the_thread_interrupted_at_the_same_interrupt(
    sdk_url: str, key_of: Any, engineer: Any, reviewer: Any
) -> None:
    asker = get_sync_client(url=sdk_url, api_key=key_of(engineer))
    answerer = get_sync_client(url=sdk_url, api_key=key_of(reviewer))
    tid = asker.threads.create()["thread_id"]
    waiting = asker.runs.wait(tid, "order_units", input={"item": "rivets"})
    (pending,) = waiting["__interrupt__"]

    # Any JSON is a valid answer to this question for Steward; the node raises on a string.
    refused = answerer.runs.wait(tid, "order_units", command=Command(resume={pending["id"]: "plenty"}))
    assert [i["id"] for i in refused["__interrupt__"]] == [pending["id"]]
    assert asker.threads.get(tid)["status"] == "interrupted"
    assert [i["id"] for i in asker.threads.get_state(tid)["interrupts"]] == [pending["id"]]
    request = ApprovalRequest.objects.get(interrupt_id=pending["id"])
    assert request.status == "pending"
    assert request.last_resume_error == "ValueError: units must be a positive whole number, got 'plenty'"

    done = answerer.runs.wait(tid, "order_units", command=Command(resume={pending["id"]: 30}))
    assert done["units"] == 30 and done["placed"] == "30 x rivets" and "__interrupt__" not in done
    assert asker.threads.get(tid)["status"] == "idle"


@pytest.mark.parametrize("change", [{"update": {"item": "stud bolts"}}, {"goto": "place_order"}], ids=["update", "goto"])
def test_a_refused_resume_that_came_with_an_update_or_goto_fails_the_run(
    sdk_url: str, key_of: Any, engineer: Any, change: dict[str, Any]
) -> None:
    """Asking again would have the next answer send the same update/goto a second time: the run
    fails, and the request stays answered (the same answer alone asks again: the test above)."""
    asker = get_sync_client(url=sdk_url, api_key=key_of(engineer))
    # A reviewer who may also change threads (a resume with update/goto needs that role).
    lead = get_sync_client(url=sdk_url, api_key=key_of(make_user("lead", "reviewers", "engineers")))
    tid = asker.threads.create()["thread_id"]
    waiting = asker.runs.wait(tid, "order_units", input={"item": "rivets"})
    (pending,) = waiting["__interrupt__"]
    request = ApprovalRequest.objects.get(interrupt_id=pending["id"])

    resumed = lead.runs.create(tid, "order_units", command=Command(resume={pending["id"]: "plenty"}, **change))
    assert resumed["run_id"] == str(request.run_id)
    lead.runs.join(tid, resumed["run_id"])
    run = wait_for(lambda: Run.objects.filter(id=request.run_id, status=Run.Status.FAILED).first())
    assert run.error == "ValueError: units must be a positive whole number, got 'plenty'"
    request.refresh_from_db()
    assert request.status == "responded" and request.last_resume_error == "" and request.resume_refused_at is None
    assert not Span.objects.filter(run_id=run.id, kind="gate", name="answer refused").exists()
    assert asker.threads.get(tid)["status"] == "error"
