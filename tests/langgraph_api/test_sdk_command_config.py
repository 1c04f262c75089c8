"""A run's own `config.configurable` values and `context` reach the graph (and stay for its
resumes); `Command(update=..., goto=...)` starts a run on a thread from that command, as
LangGraph's invoke does; reserved keys and going around a pending approval request are refused.
Through `get_sync_client`, with the graph in tests/support/lg_agents/command_graph.py."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.schema import Command

from agents.engine.models import Run
from approvals.models import ApprovalRequest, Queue
from console.kernel.models import AuditEvent
from tests.support.users import make_user
from traces.recording.models import Span

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]


def _refused(call: Any) -> tuple[int, Any]:
    with pytest.raises(httpx.HTTPStatusError) as caught:
        call()
    return caught.value.response.status_code, caught.value.response.json()


def test_configurable_and_context_reach_the_graph_and_its_resumes(
    sdk_url: str, key_of: Any, engineer: Any, reviewer: Any, api: Any
) -> None:
    client = get_sync_client(url=sdk_url, api_key=key_of(engineer))
    tid = client.threads.create()["thread_id"]
    waiting = client.runs.wait(
        tid, "lg_command", input={"tone": "warm"}, config={"configurable": {"user_name": "Ada"}}, context={"team": "billing"}
    )
    assert waiting["seen"] == ["draft:Ada:billing"] and waiting["note"] == "note for Ada"
    (pending,) = waiting["__interrupt__"]
    assert pending["value"]["question"] == "send this note?"

    # The reviewer's resume sends no values of its own: the run keeps the ones it started with.
    answerer = get_sync_client(url=sdk_url, api_key=key_of(reviewer))
    done = answerer.runs.wait(tid, "lg_command", command=Command(resume=True))
    assert done["seen"] == ["draft:Ada:billing", "review", "send:Ada:billing"]
    assert done["sent"] == "warm: note for Ada"
    (run,) = Run.objects.filter(thread_id=tid)
    steward = api(engineer).get(f"/api/runs/{run.id}").json()
    assert steward["status"] == "succeeded"
    assert steward["metadata"]["graph_call"] == {"configurable": {"user_name": "Ada"}, "context": {"team": "billing"}}

    # A resume with values of its own would silently differ from the run's: refused.
    again = client.runs.wait(tid, "lg_command", input={"tone": "dry"})
    assert again["seen"][-1] == "draft:anonymous:nobody"
    status, body = _refused(
        lambda: answerer.runs.create(tid, "lg_command", command=Command(resume=True), config={"configurable": {"user_name": "Bob"}})
    )
    assert status == 422 and "keeps its run's configurable values" in str(body["detail"])


def test_reserved_configurable_keys_and_secrets_are_refused(sdk_url: str, key_of: Any, engineer: Any) -> None:
    client = get_sync_client(url=sdk_url, api_key=key_of(engineer))
    tid = client.threads.create()["thread_id"]
    for key in ("checkpoint_id", "checkpoint_ns", "__pregel_send", "steward_model"):
        status, body = _refused(lambda key=key: client.runs.create(tid, "lg_command", input={}, config={"configurable": {key: "x"}}))
        assert status == 422 and body["detail"][0]["loc"] == ["body", "config", "configurable", key], body
    status, body = _refused(lambda: client.runs.create(tid, "lg_command", input={}, config={"configurable": {"thread_id": "another"}}))
    assert status == 422 and "reserved" in str(body["detail"])
    status, body = _refused(lambda: client.runs.create(tid, "lg_command", input={}, context={"api_key": "sk-live-1234567890abcdef"}))
    assert status == 422 and body["detail"][0]["loc"] == ["body", "context"]
    # RemoteGraph sends the thread's own id: that one is the thread's anyway.
    out = client.runs.wait(tid, "lg_command", input={}, config={"configurable": {"thread_id": tid, "user_name": "Cy"}})
    assert out["seen"] == ["draft:Cy:nobody"]
    assert not Run.objects.filter(thread_id=tid).exclude(status=Run.Status.WAITING).exists()


def test_update_and_goto_start_a_run_from_the_command(sdk_url: str, key_of: Any, engineer: Any, reviewer: Any, api: Any) -> None:
    client = get_sync_client(url=sdk_url, api_key=key_of(engineer))
    answerer = get_sync_client(url=sdk_url, api_key=key_of(reviewer))
    tid = client.threads.create()["thread_id"]
    client.runs.wait(tid, "lg_command", input={"tone": "warm"})
    answerer.runs.wait(tid, "lg_command", command=Command(resume=True))

    # update changes the note `send` reads; goto jumps to `send`, past draft and review.
    jumped = client.runs.wait(tid, "lg_command", command=Command(update={"note": "changed note"}, goto="send"))
    assert jumped["sent"] == "warm: changed note"
    assert jumped["seen"] == ["draft:anonymous:nobody", "review", "send:anonymous:nobody", "send:anonymous:nobody"]
    state = client.threads.get_state(tid)
    assert state["values"]["note"] == "changed note" and state["values"]["sent"] == "warm: changed note" and state["next"] == []
    newest = client.runs.list(tid)[0]
    steward = api(engineer).get(f"/api/runs/{newest['run_id']}").json()
    assert steward["status"] == "succeeded" and steward["metadata"]["graph_call"]["command"] == {"update": {"note": "changed note"}, "goto": "send"}
    assert newest["kwargs"]["command"]["goto"] == "send"

    # goto alone: to a node no edge reaches.
    client.runs.wait(tid, "lg_command", command=Command(goto="escalate"))
    assert client.threads.get_state(tid)["values"]["sent"] == "escalated: changed note"
    # update alone writes the state and runs no node (as LangGraph's invoke on a finished thread).
    updated = client.runs.wait(tid, "lg_command", command=Command(update={"tone": "dry"}))
    assert updated["tone"] == "dry" and updated["seen"][-1] == "escalate" and "__interrupt__" not in updated

    # Malformed commands: a clear 422.
    for command, field in (({"goto": {"node": "send", "input": {}}}, "goto"), ({"update": [1, 2]}, "update")):
        status, body = _refused(lambda command=command: client.runs.create(tid, "lg_command", command=command, multitask_strategy="interrupt"))
        assert status == 422 and body["detail"][0]["loc"] == ["body", "command", field], body
    # A resume with update/goto needs an interrupted run to resume.
    status, body = _refused(lambda: client.runs.create(tid, "lg_command", command=Command(resume=True, goto="send")))
    assert status == 409 and "no interrupted run" in body["detail"]


def test_resume_with_update_and_goto_in_one_command(sdk_url: str, key_of: Any, engineer: Any, reviewer: Any, api: Any) -> None:
    # Its question goes to reviewers only (by default the run's requester may answer a question).
    Queue.objects.filter(name="default").update(requester_may_answer=Queue.RequesterMayAnswer.NEVER)
    client = get_sync_client(url=sdk_url, api_key=key_of(engineer))
    # A reviewer who may also change threads (update/goto alone need that role, so with a resume too).
    lead = make_user("lead", "reviewers", "engineers")
    answerer = get_sync_client(url=sdk_url, api_key=key_of(lead))
    only_reviews = get_sync_client(url=sdk_url, api_key=key_of(reviewer))
    tid = client.threads.create()["thread_id"]
    waiting = client.runs.wait(tid, "lg_command", input={"tone": "warm"})
    (pending,) = waiting["__interrupt__"]
    (request,) = ApprovalRequest.objects.pending().filter(run__thread_id=tid)

    # The rules of a resume hold: who started the run may not answer it, with or without an update.
    status, body = _refused(lambda: client.runs.create(tid, "lg_command", command=Command(resume=True, update={"tone": "firm"})))
    assert status == 403
    # A reviewer's role decides, it does not change threads: the resume alone, not with an update.
    status, body = _refused(lambda: only_reviews.runs.create(tid, "lg_command", command=Command(resume=True, update={"tone": "firm"})))
    assert status == 403 and "change a thread's state" in body["detail"], body
    # Malformed or secret-looking updates and gotos: 422, nothing decided.
    for command, field in (
        ({"resume": True, "update": [1, 2]}, "update"),
        ({"resume": True, "goto": {"node": "send"}}, "goto"),
        ({"resume": True, "update": {"api_key": "sk-live-1234567890abcdef"}}, "update"),
    ):
        status, body = _refused(lambda command=command: answerer.runs.create(tid, "lg_command", command=command))
        assert status == 422 and body["detail"][0]["loc"][:3] == ["body", "command", field], body
    assert ApprovalRequest.objects.get(id=request.id).status == "pending"
    assert "resume_with" not in Run.objects.get(id=request.run_id).metadata.get("graph_call", {})

    # The reviewer resumes and updates in one Command: the same run goes on, `review` gets the
    # answer and `send` reads the updated tone, as LangGraph's invoke(Command(resume=..., update=...)).
    done = answerer.runs.wait(tid, "lg_command", command=Command(resume={pending["id"]: True}, update={"tone": "firm"}))
    assert done["approved"] is True and done["sent"] == "firm: note for anonymous"
    assert done["seen"] == ["draft:anonymous:nobody", "review", "send:anonymous:nobody"]
    (run,) = Run.objects.filter(thread_id=tid)
    assert run.id == request.run_id and run.status == Run.Status.SUCCEEDED
    request.refresh_from_db()
    assert request.status == "responded" and request.decided_by == lead
    assert AuditEvent.objects.filter(action="run.resume_command", actor=lead).exists()
    steward = api(engineer).get(f"/api/runs/{run.id}").json()
    assert steward["metadata"]["graph_call"]["resume_with"] == {"interrupts": [pending["id"]], "update": {"tone": "firm"}, "goto": None}

    # resume with goto: `escalate` runs beside the resumed `review` (LangGraph's order), once.
    other = client.threads.create()["thread_id"]
    client.runs.wait(other, "lg_command", input={"tone": "warm"})
    out = answerer.runs.wait(other, "lg_command", command=Command(resume=False, goto="escalate"))
    assert out["approved"] is False and out["seen"].count("escalate") == 1 and "review" in out["seen"]
    # `send` still follows `review`: its note is the one the thread keeps.
    assert out["sent"] == "warm: note for anonymous"


def test_update_and_goto_do_not_go_around_a_pending_request(
    sdk_url: str, key_of: Any, engineer: Any, admin_user: Any, api: Any
) -> None:
    # Its question goes to reviewers only (by default the run's requester may answer a question).
    Queue.objects.filter(name="default").update(requester_may_answer=Queue.RequesterMayAnswer.NEVER)
    client = get_sync_client(url=sdk_url, api_key=key_of(engineer))
    tid = client.threads.create()["thread_id"]
    client.runs.wait(tid, "lg_command", input={"tone": "warm"})
    (request,) = ApprovalRequest.objects.pending().filter(run__thread_id=tid)

    # Who started the run may not decide its request: no jumping past it, whatever the strategy.
    for strategy in ("interrupt", "rollback", "reject"):
        status, body = _refused(
            lambda strategy=strategy: client.runs.create(tid, "lg_command", command=Command(goto="send"), multitask_strategy=strategy)
        )
        assert status == 409 and f"approval request {request.id}" in body["detail"], body
    assert ApprovalRequest.objects.get(id=request.id).status == "pending"

    # An admin who may decide it may jump (cancelling the waiting run, as multitask_strategy=interrupt does).
    admin = get_sync_client(url=sdk_url, api_key=key_of(admin_user))
    out = admin.runs.wait(tid, "lg_command", command=Command(goto="escalate"), multitask_strategy="interrupt")
    assert Run.objects.get(id=request.run_id).status == Run.Status.CANCELLED
    assert ApprovalRequest.objects.get(id=request.id).status == "cancelled"
    # As LangGraph does: `escalate` runs beside the pending `review`, which asks again; the
    # step's writes wait in the checkpoint until that interrupt is resumed.
    jumped = Run.objects.get(id=client.runs.list(tid)[0]["run_id"])
    assert jumped.status == Run.Status.WAITING and "__interrupt__" in out
    assert set(Span.objects.filter(run_id=jumped.id, kind="node").values_list("name", flat=True)) >= {"escalate", "review"}
    (again,) = ApprovalRequest.objects.pending().filter(run__thread_id=tid)
    assert again.run_id == jumped.id


def test_a_streamed_run_gets_its_context_and_command(sdk_url: str, key_of: Any, engineer: Any, reviewer: Any) -> None:
    client = get_sync_client(url=sdk_url, api_key=key_of(engineer))
    tid = client.threads.create()["thread_id"]
    parts = list(
        client.runs.stream(
            tid, "lg_command", input={"tone": "warm"}, stream_mode="updates",
            config={"configurable": {"user_name": "Ada"}}, context={"team": "billing"},
        )
    )
    updates = [p.data for p in parts if p.event == "updates"]
    assert {"draft": {"note": "note for Ada", "tone": "warm", "seen": ["draft:Ada:billing"]}} in updates
    get_sync_client(url=sdk_url, api_key=key_of(reviewer)).runs.wait(tid, "lg_command", command=Command(resume=True))

    jumped = list(client.runs.stream(tid, "lg_command", command=Command(update={"note": "new"}, goto="send"), stream_mode="updates"))
    assert {"send": {"sent": "warm: new", "seen": ["send:anonymous:nobody"]}} in [p.data for p in jumped if p.event == "updates"]
