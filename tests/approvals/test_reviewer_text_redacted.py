"""What a reviewer types (a decision's comment, edited arguments) is stored like a run's input:
redacted where people and other systems read it, the exact value sealed where the run needs it.

A run whose input, rejection comment, edit comment and edited arguments hold a card number and
an API key leaves neither in plain text anywhere in the database (every table, checkpoints
included), nor in the API, the request page or the export; the agent still reads the comment
as typed, and the approved edit still runs with exactly the edited arguments.
"""

from __future__ import annotations

import html
import random
import string
from collections.abc import Iterator
from typing import Any, TypedDict

import pytest
from django.db import connection
from django.test import Client
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel

from agents.demo.models import Refund
from agents.engine import registry, runtime
from agents.engine.checkpointer import checkpointer
from agents.engine.ledger import args_hash
from agents.engine.models import IdempotencyRecord, Run
from agents.engine.registry import get_agent, sync_agents
from approvals.gate import require_approval
from approvals.models import ApprovalRequest, Decision
from tests.support.runs import order_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

# What the memo action received, in this process (runtime.execute runs the graph here).
FILED: list[dict[str, Any]] = []
MEMO_SCHEMA = {
    "type": "object",
    "properties": {"ticket": {"type": "string"}, "memo": {"type": "string"}},
    "required": ["ticket", "memo"],
}


class MemoInput(BaseModel):
    ticket: str


class MemoState(TypedDict):
    ticket: str
    filed: str


def file_memo_node(state: MemoState) -> dict[str, Any]:
    """A gated action with a free-text argument a reviewer may edit (the refund tool has none)."""
    decision = require_approval(
        queue="payments", action="file_memo", args={"ticket": state["ticket"], "memo": "customer called"},
        args_schema=MEMO_SCHEMA, summary="File a memo",
    )
    if decision["decision"] != "approve":
        return {"filed": "no"}
    FILED.append(dict(decision["args"]))
    return {"filed": "yes"}


def build_memo() -> StateGraph:
    graph = StateGraph(MemoState)
    graph.add_node("file", file_memo_node)
    graph.add_edge(START, "file")
    graph.add_edge("file", END)
    return graph


@pytest.fixture
def memo_agent() -> Iterator[None]:
    registry.register_agent("file_memo", input_schema=MemoInput, output=lambda s: {"filed": s["filed"]})(build_memo)
    FILED.clear()
    try:
        sync_agents()
        yield
    finally:
        registry._REGISTRY.pop("file_memo", None)


def _luhn_card() -> str:
    """A fresh Luhn-valid Visa number: unique per test, so no other test's rows can match it."""
    digits = [4] + [random.randint(0, 9) for _ in range(14)]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


CARD = _luhn_card()
KEY = "sk-live-" + "".join(random.choices(string.ascii_letters + string.digits, k=24))
SECRETS = f"card {CARD}, key {KEY}"


def _assert_no_canary(text: str, where: str) -> None:
    assert CARD not in text, f"{where} holds the card number in plain text"
    assert KEY not in text, f"{where} holds the API key in plain text"


def _start(client: Any, order: str) -> str:
    data = {"order_id": order, "amount": 400, "reason": f"arrived broken; {SECRETS}"}
    response = client.post("/api/runs", {"agent": "refund", "input": data})
    assert response.status_code == 201, response.content
    run_id = response.json()["id"]
    assert runtime.execute(run_id) == Run.Status.WAITING
    return run_id


def _request_of(run_id: str) -> ApprovalRequest:
    return ApprovalRequest.objects.get(run_id=run_id, status=ApprovalRequest.Status.PENDING)


def _final_messages(run_id: str) -> str:
    """The run's last state as the agent has it (read from its encrypted checkpoint)."""
    run = Run.objects.select_related("agent").get(id=run_id)
    spec = get_agent(run.agent.key)
    assert spec is not None
    with checkpointer() as saver:
        state = runtime.compiled_graph(spec, saver).get_state({"configurable": {"thread_id": run.thread_id}})
    return "\n".join(str(m.content) for m in state.values["messages"])


def _database_dump() -> str:
    """Every row of every table in the public schema as JSON text, checkpoint tables included."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        tables = [name for (name,) in cursor.fetchall()]
        assert {"approvals_decision", "approvals_approvalrequest", "checkpoints", "checkpoint_blobs"} <= set(tables)
        rows: list[str] = []
        for table in tables:
            cursor.execute(f'SELECT row_to_json(t)::text FROM "{table}" t')
            rows += [row for (row,) in cursor.fetchall()]
    return "\n".join(rows)


def test_reviewer_text_is_redacted_everywhere_and_sealed_for_the_run(
    engineer: Any, reviewer: Any, api: Any, broker_purged_after: None, memo_agent: None
) -> None:
    eng, rev = api(engineer), api(reviewer)

    # A rejection with secrets in its comment: the agent reads the comment as typed.
    rejected_run = _start(eng, order_id("S"))
    rejected = _request_of(rejected_run)
    comment = f"not refundable: {SECRETS}"
    response = rev.post(
        f"/api/approvals/{rejected.id}/decision", {"decision": "reject", "comment": comment, "reason_code": "policy"}
    )
    assert response.status_code == 200, response.content
    _assert_no_canary(response.content.decode(), "the decision's answer")
    assert runtime.execute(rejected_run) == Run.Status.SUCCEEDED
    assert f"rejected: policy: {comment}" in _final_messages(rejected_run)

    # An edit with secrets in its comment and its arguments: the edited arguments run exactly.
    edited_run = _start(eng, order_id("S"))
    edited = _request_of(edited_run)
    new_order = order_id("E")
    edited_args = {"order_id": new_order, "amount": 150}
    response = rev.post(
        f"/api/approvals/{edited.id}/decision",
        {"decision": "edit", "args": edited_args, "comment": f"lowered; {SECRETS}"},
    )
    assert response.status_code == 200, response.content
    _assert_no_canary(response.content.decode(), "the decision's answer")
    assert runtime.execute(edited_run) == Run.Status.SUCCEEDED
    assert [(r.order_id, str(r.amount)) for r in Refund.objects.filter(order_id=new_order)] == [(new_order, "150.00")]
    # The ledger holds the hash of the arguments the tool ran with: the exact edit, not its redaction.
    # (typed by the tool's schema first, so the amount is the float the tool received).
    ran_with = {"order_id": new_order, "amount": 150.0}
    assert IdempotencyRecord.objects.get(key=f"refund:{new_order}").args_hash == args_hash(ran_with)

    # An edit that types secrets into a free-text argument: stored redacted, run exactly.
    memo_run = eng.post("/api/runs", {"agent": "file_memo", "input": {"ticket": "T-1"}}).json()["id"]
    assert runtime.execute(memo_run) == Run.Status.WAITING
    memo_request = _request_of(memo_run)
    memo_args = {"ticket": "T-1", "memo": f"charge back to {SECRETS}"}
    response = rev.post(f"/api/approvals/{memo_request.id}/decision", {"decision": "edit", "args": memo_args})
    assert response.status_code == 200, response.content
    _assert_no_canary(response.content.decode(), "the decision's answer")
    assert response.json()["approved_args"]["memo"] == "charge back to card [redacted:card], key [redacted:openai_key]"
    assert runtime.execute(memo_run) == Run.Status.SUCCEEDED
    assert FILED == [memo_args]

    # The API and the page show what was typed, redacted.
    for request in (rejected, edited):
        detail = rev.get(f"/api/approvals/{request.id}")
        assert detail.status_code == 200
        _assert_no_canary(detail.content.decode(), "GET /api/approvals/{id}")
        assert "[redacted:card]" in detail.json()["decisions"][0]["comment"]
        assert "[redacted:openai_key]" in detail.json()["decisions"][0]["comment"]
        page = Client()
        page.force_login(reviewer)
        text = page.get(f"/approvals/{request.id}/").content.decode()
        _assert_no_canary(text, "the request page")
        assert html.escape("[redacted:card]") in text
        export = eng.get(f"/api/runs/{request.run_id}/export")
        assert export.status_code == 200
        _assert_no_canary(export.content.decode(), "the run's export")
    _assert_no_canary(rev.get("/api/approvals").content.decode(), "GET /api/approvals")
    assert Decision.objects.filter(request__in=[rejected, edited]).count() == 2

    _assert_no_canary(_database_dump(), "the database")
