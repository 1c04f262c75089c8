"""Static breakpoints (`compile(interrupt_before=[...])`, `interrupt_after=[...]`) open an
approval request like any interrupt: it shows the node about to run (or just run) and the state,
and takes only continue (`approve`) or stop (`reject`). Continuing runs the graph on from the
breakpoint to its end or its next breakpoint; stopping cancels the run. The pause and the answer
are gate spans. The graphs are written the LangGraph docs' way (tests/support/breakpoint_agents.py);
a real worker runs them on the real checkpointer.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from agents.engine import runtime
from agents.engine.models import Run
from agents.engine.services import start_run
from approvals.models import ApprovalRequest, Queue
from approvals.services import enforce_sla
from tests.support.breakpoint_agents import SHIPPED
from tests.support.runs import node_names
from tests.support.waiting import wait_for
from traces.recording.models import Span

pytestmark = pytest.mark.django_db(transaction=True)


def _order() -> str:
    return f"O-{uuid.uuid4().hex[:8]}"


def _start(client: Any, agent: str, order: str) -> str:
    response = client.post("/api/runs", {"agent": agent, "input": {"order": order}})
    assert response.status_code == 201, response.content
    return str(response.json()["id"])


def _run_when(client: Any, run_id: str, status: str) -> dict[str, Any]:
    def settled() -> dict[str, Any] | None:
        run = client.get(f"/api/runs/{run_id}").json()
        assert run["status"] != "failed" or status == "failed", run
        return run if run["status"] == status else None

    return wait_for(settled)


def _pending_request(client: Any, run_id: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        items = client.get("/api/approvals", status="pending").json()["items"]
        mine = [a for a in items if a["run_id"] == run_id]
        assert len(mine) <= 1, mine
        return mine[0] if mine else None

    found = wait_for(find)
    detail: dict[str, Any] = client.get(f"/api/approvals/{found['id']}").json()
    return detail


def _decide(client: Any, approval_id: str, body: dict[str, Any]) -> Any:
    return client.post(f"/api/approvals/{approval_id}/decision", body)


def _gate_spans(run_id: str) -> list[Span]:
    return list(Span.objects.filter(run_id=run_id, kind="gate").order_by("seq"))


def test_interrupt_before_waits_for_continue_then_runs_the_node(celery_worker: Any, api: Any, engineer: Any, reviewer: Any) -> None:
    eng, rev = api(engineer), api(reviewer)
    order = _order()
    run_id = _start(eng, "ship_before", order)
    _run_when(eng, run_id, "waiting")
    request = _pending_request(rev, run_id)

    # The reviewer sees the node about to run and the state it will run on.
    shown = request["interrupt"]
    assert shown["kind"] == "breakpoint" and shown["allowed"] == ["approve", "reject"]
    assert [a["name"] for a in shown["actions"]] == ["ship"]
    assert shown["value"]["when"] == "before" and shown["value"]["nodes"] == ["ship"]
    assert shown["value"]["state"] == {"order": order, "label": f"parcel for {order}", "shipped": False}
    assert request["action"] == "ship" and "before ship" in request["summary"]
    assert SHIPPED.count(order) == 0 and node_names(run_id) == ["draft"]

    # Only continue or stop: an edit, a response or a free-form answer is refused, nothing changes.
    for body in ({"decision": "edit", "args": {"order": "X"}}, {"decision": "respond", "comment": "hi"}, {"decision": "answer", "value": 1}):
        refused = _decide(rev, request["id"], body)
        assert refused.status_code == 422, refused.content
    # Four-eyes, as for any request: who started the run does not continue it.
    assert _decide(eng, request["id"], {"decision": "approve"}).status_code == 403

    approved = _decide(rev, request["id"], {"decision": "approve"})
    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == "approved"
    run = _run_when(eng, run_id, "succeeded")
    assert run["output"] == {"label": f"parcel for {order}", "shipped": True}
    assert SHIPPED.count(order) == 1
    assert node_names(run_id) == ["draft", "ship"]

    # The pause and the answer are gate spans, at the breakpoint's checkpoint.
    paused, answered = _gate_spans(run_id)
    assert (paused.name, paused.status, answered.name, answered.status) == ("breakpoint", "paused", "breakpoint", "ok")
    assert paused.input["when"] == "before" and paused.input["nodes"] == ["ship"]
    assert answered.output["decision"] == "continue" and answered.output["decided_by"] == reviewer.username
    assert paused.checkpoint_id == answered.checkpoint_id == paused.input["checkpoint_id"]
    assert run["totals"]["spans"] == Span.objects.filter(run_id=run_id).count()


def test_interrupt_after_shows_what_the_node_wrote_and_continues(celery_worker: Any, api: Any, engineer: Any, reviewer: Any) -> None:
    eng, rev = api(engineer), api(reviewer)
    order = _order()
    run_id = _start(eng, "ship_after", order)
    _run_when(eng, run_id, "waiting")
    request = _pending_request(rev, run_id)
    shown = request["interrupt"]
    assert shown["value"]["when"] == "after" and shown["value"]["nodes"] == ["draft"]
    assert [a["name"] for a in shown["actions"]] == ["draft"]
    assert shown["value"]["state"]["label"] == f"parcel for {order}"
    assert SHIPPED.count(order) == 0

    assert _decide(rev, request["id"], {"decision": "approve"}).status_code == 200
    run = _run_when(eng, run_id, "succeeded")
    assert run["output"]["shipped"] is True and SHIPPED.count(order) == 1
    assert node_names(run_id) == ["draft", "ship"]


def test_each_breakpoint_is_a_request_of_its_own(celery_worker: Any, api: Any, engineer: Any, reviewer: Any) -> None:
    eng, rev = api(engineer), api(reviewer)
    order = _order()
    run_id = _start(eng, "ship_each", order)
    _run_when(eng, run_id, "waiting")
    first = _pending_request(rev, run_id)
    assert first["interrupt"]["value"]["nodes"] == ["draft"] and node_names(run_id) == []
    assert _decide(rev, first["id"], {"decision": "approve"}).status_code == 200

    # Continued, it runs to the next breakpoint, which opens a new request.
    second = wait_for(lambda: (r := _pending_request(rev, run_id))["id"] != first["id"] and r)
    assert second["interrupt"]["value"]["nodes"] == ["ship"]
    assert second["interrupt"]["value"]["state"]["label"] == f"parcel for {order}"
    assert Run.objects.get(id=run_id).status == Run.Status.WAITING and SHIPPED.count(order) == 0
    assert _decide(rev, second["id"], {"decision": "approve"}).status_code == 200
    run = _run_when(eng, run_id, "succeeded")
    assert SHIPPED.count(order) == 1 and run["output"]["shipped"] is True
    assert [(s.status, (s.output or {}).get("decision")) for s in _gate_spans(run_id)] == [
        ("paused", None), ("ok", "continue"), ("paused", None), ("ok", "continue"),
    ]


def test_stopping_at_a_breakpoint_cancels_the_run_before_the_node_runs(
    celery_worker: Any, api: Any, engineer: Any, reviewer: Any
) -> None:
    eng, rev = api(engineer), api(reviewer)
    order = _order()
    run_id = _start(eng, "ship_before", order)
    _run_when(eng, run_id, "waiting")
    request = _pending_request(rev, run_id)
    rejected = _decide(rev, request["id"], {"decision": "reject", "comment": "wrong address"})
    assert rejected.status_code == 200, rejected.content
    assert rejected.json()["status"] == "rejected"

    run = _run_when(eng, run_id, "cancelled")
    assert SHIPPED.count(order) == 0 and node_names(run_id) == ["draft"]
    assert Run.objects.get(id=run_id).metadata["breakpoint"]["stopped_by"] == reviewer.username
    answered = _gate_spans(run_id)[-1]
    assert answered.output["decision"] == "stop" and answered.output["comment"] == "wrong address"
    assert run["totals"]["spans"] == Span.objects.filter(run_id=run_id).count()


def test_breakpoints_given_when_the_run_starts(celery_worker: Any, api: Any, engineer: Any, reviewer: Any) -> None:
    eng, rev = api(engineer), api(reviewer)
    # A node the graph does not have is refused, naming it; nothing starts.
    refused = eng.post("/api/runs", {"agent": "ship_plain", "input": {"order": "O-x"}, "interrupt_before": ["shipp"]})
    assert refused.status_code == 422, refused.content
    assert refused.json()["detail"][0]["loc"] == ["body", "interrupt_before", 0] and "'shipp'" in refused.json()["detail"][0]["msg"]
    assert not Run.objects.filter(agent__key="ship_plain").exists()

    order = _order()
    started = eng.post("/api/runs", {"agent": "ship_plain", "input": {"order": order}, "interrupt_before": ["ship"]})
    assert started.status_code == 201, started.content
    run_id = started.json()["id"]
    _run_when(eng, run_id, "waiting")
    request = _pending_request(rev, run_id)
    assert request["interrupt"]["value"]["nodes"] == ["ship"] and SHIPPED.count(order) == 0
    assert _decide(rev, request["id"], {"decision": "approve"}).status_code == 200
    assert _run_when(eng, run_id, "succeeded")["output"]["shipped"] is True
    assert SHIPPED.count(order) == 1

    # Without them the same graph runs straight through.
    plain = _start(eng, "ship_plain", _order())
    assert _run_when(eng, plain, "succeeded")["output"]["shipped"] is True


def _waiting_at_breakpoint(agent: str, user: Any) -> tuple[Run, ApprovalRequest]:
    run = start_run(agent, {"order": _order()}, user)
    assert runtime.execute(run.id) == Run.Status.WAITING
    return run, ApprovalRequest.objects.get(run=run, status=ApprovalRequest.Status.PENDING)


def test_the_request_page_shows_the_node_and_the_state_and_continues_it(client_for: Any, engineer: Any, reviewer: Any) -> None:
    run, request = _waiting_at_breakpoint("ship_before", engineer)
    browser = client_for(reviewer)
    html = browser.get(reverse("approval_detail", args=[request.id])).content.decode()
    assert "Paused before ship runs" in html and f"parcel for {run.input['order']}" in html
    # Continue (approve) and stop (reject) only.
    assert 'id="approve-button"' in html and 'id="reject-panel"' in html
    assert 'id="edit-panel"' not in html and 'id="respond-panel"' not in html and 'id="answer-form"' not in html
    browser.post(reverse("approval_decide", args=[request.id]), {"decision": "approve"})
    assert runtime.execute(run.id) == Run.Status.SUCCEEDED
    assert SHIPPED.count(run.input["order"]) == 1


def test_a_queue_s_timeout_continues_or_stops_a_breakpoint(engineer: Any) -> None:
    continued, first = _waiting_at_breakpoint("ship_before", engineer)
    Queue.objects.filter(name="default").update(timeout_action=Queue.TimeoutAction.APPROVE)
    ApprovalRequest.objects.filter(id=first.id).update(due_at=timezone.now() - timedelta(minutes=1))
    enforce_sla()
    assert ApprovalRequest.objects.get(id=first.id).status == "approved"
    assert runtime.execute(continued.id) == Run.Status.SUCCEEDED

    stopped, second = _waiting_at_breakpoint("ship_before", engineer)
    Queue.objects.filter(name="default").update(timeout_action=Queue.TimeoutAction.REJECT)
    ApprovalRequest.objects.filter(id=second.id).update(due_at=timezone.now() - timedelta(minutes=1))
    enforce_sla()
    assert runtime.execute(stopped.id) == Run.Status.CANCELLED
    assert SHIPPED.count(stopped.input["order"]) == 0
