"""The gate checks that the resume value it is given was approved with those arguments
(approvals/gate.py `_check_resume_value`). The worker has just read the decided requests to
build the resume (`decided_resume_values`), so the gate takes the approval from there instead
of reading it again; a value the worker did not read as approved is read from the database,
and a forged or altered value is refused either way."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents.engine import runtime
from agents.engine.ledger import args_hash
from agents.engine.models import Run
from agents.engine.services import start_run
from approvals import approved_now
from approvals.engine_hooks import decided_resume_values
from approvals.gate import GateError, _check_resume_value
from approvals.models import ApprovalRequest
from approvals.services import decide

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def _approved_refund(engineer: Any, admin_user: Any) -> ApprovalRequest:
    run = start_run("refund", {"order_id": f"G-{uuid.uuid4().hex[:10]}", "amount": 250, "reason": "x"}, engineer)
    assert runtime.execute(run.id) == Run.Status.WAITING
    request = ApprovalRequest.objects.get(run=run)
    decide(request.id, admin_user, "approve", comment="fine")
    return ApprovalRequest.objects.get(id=request.id)


def test_an_approval_the_worker_read_is_not_read_again(engineer: Any, admin_user: Any, purge_broker: None) -> None:
    request = _approved_refund(engineer, admin_user)
    approved_now.remember({})
    resume = decided_resume_values(Run.objects.get(id=request.run_id), [request.interrupt_id])[request.interrupt_id]
    assert approved_now.approved_args_hash(str(request.id)) == request.approved_args_hash
    with CaptureQueriesContext(connection) as queries:
        _check_resume_value(resume)
    assert queries.captured_queries == []
    with pytest.raises(GateError, match="arguments differ"):
        _check_resume_value({**resume, "args": {**resume["args"], "amount": 9999}})


def test_a_value_the_worker_did_not_read_is_checked_in_the_database(engineer: Any, admin_user: Any, purge_broker: None) -> None:
    request = _approved_refund(engineer, admin_user)
    approved_now.remember({})
    value = {"decision": "approve", "approval_id": str(request.id), "args": request.approved_args}
    assert args_hash(value["args"]) == request.approved_args_hash
    with CaptureQueriesContext(connection) as queries:
        _check_resume_value(value)
    assert len(queries.captured_queries) == 1
    forged = {"decision": "approve", "approval_id": str(uuid.uuid4()), "args": request.approved_args}
    with pytest.raises(GateError, match="is not approved"):
        _check_resume_value(forged)
