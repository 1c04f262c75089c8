"""Eight reviewers decide one request at once: exactly one outcome and one resume."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from django.db import connections

from agents.demo.models import Refund
from agents.engine import runtime
from agents.engine.models import Run
from agents.engine.services import start_run
from approvals.models import ApprovalRequest, Decision
from approvals.services import decide
from console.kernel.errors import Conflict
from tests.support.users import make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]


def _queued_messages() -> list[str]:
    """Run ids of the execute_run messages waiting in the real broker."""
    from console.celery import app

    ids = []
    with app.connection_for_read() as conn:
        queue = conn.SimpleQueue("steward", no_ack=True)
        while True:
            try:
                message = queue.get(block=False)
            except queue.Empty:
                break
            ids.append(message.headers.get("argsrepr") or str(message.payload))
        queue.close()
    return ids


def test_eight_concurrent_decisions_one_outcome_one_resume(engineer: Any, purge_broker: None) -> None:
    """Half approve, half reject, all at once: one wins, seven get 409, the run is resumed once."""
    reviewers = [make_user(f"rev{i}", "reviewers") for i in range(8)]
    order = f"C-{uuid.uuid4().hex[:8]}"
    run = start_run("refund", {"order_id": order, "amount": 300, "reason": "x"}, engineer)
    assert runtime.execute(run.id) == "waiting"
    request = ApprovalRequest.objects.get(run=run)
    _queued_messages()  # drop the start message

    barrier = threading.Barrier(8)
    outcomes: list[str] = []
    lock = threading.Lock()

    def decide_as(user: Any, index: int) -> None:
        barrier.wait()
        try:
            decide(request.id, user, "approve" if index % 2 == 0 else "reject", comment=f"by {user.username}")
            result = "won"
        except Conflict as exc:
            result = f"409 {exc.detail}"
        finally:
            connections.close_all()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=decide_as, args=(u, i)) for i, u in enumerate(reviewers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert outcomes.count("won") == 1, outcomes
    assert all(o.startswith("409 this request is already") for o in outcomes if o != "won")
    request.refresh_from_db()
    assert request.status in ("approved", "rejected")
    assert Decision.objects.filter(request=request).count() == 1
    winner = Decision.objects.get(request=request).user.username
    assert request.decided_by.username == winner
    assert all(winner in o for o in outcomes if o != "won")

    messages = _queued_messages()
    assert len(messages) == 1 and str(run.id) in messages[0]
    assert Run.objects.get(id=run.id).status == "queued"
    assert runtime.execute(run.id) == "succeeded"
    assert Refund.objects.filter(order_id=order).count() == (1 if request.status == "approved" else 0)
