"""A worker that dies after a step's task saved its writes but before the step's checkpoint:
the next worker must carry on from those writes, not take the run for finished.

The death is raised at the one place no agent code runs (the checkpointer's `put` after
`put_writes`), as an exception no `except Exception` catches, the way a SIGKILL ends a process.
`manage.py chaos` hits the same window by chance (tests/faults/test_worker_kills.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from agents.demo.models import Refund
from agents.engine import runtime
from agents.engine.checkpointer import StewardPostgresSaver
from agents.engine.models import Run
from agents.engine.services import start_run
from agents.engine.sweeper import sweep
from traces.recording.models import Span

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


class WorkerDied(BaseException):
    """The process ended here (no `except Exception` in the runtime sees it)."""


def _die_before_checkpoint_of_step(monkeypatch: pytest.MonkeyPatch, step: int) -> None:
    put = StewardPostgresSaver.put

    def put_or_die(self: StewardPostgresSaver, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        if metadata.get("step") == step:
            raise WorkerDied(f"killed before the checkpoint of step {step}")
        return put(self, config, checkpoint, metadata, new_versions)

    monkeypatch.setattr(StewardPostgresSaver, "put", put_or_die)


def test_a_crash_between_a_steps_writes_and_its_checkpoint_is_continued(
    engineer: Any, monkeypatch: pytest.MonkeyPatch, purge_broker: None
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the Postgres checkpointer")
    clean = start_run("refund", {"order_id": "CRASH-CLEAN", "amount": 40, "reason": "late"}, engineer)
    assert runtime.execute(clean.id) == "succeeded"

    run = start_run("refund", {"order_id": "CRASH-1", "amount": 40, "reason": "late"}, engineer)
    # Steps: 1 agent, 2 lookup, 3 agent, 4 refund, 5 agent. Die once lookup's writes are saved.
    with monkeypatch.context() as patch:
        _die_before_checkpoint_of_step(patch, 2)
        with pytest.raises(WorkerDied):
            runtime.execute(run.id)
    assert Run.objects.get(id=run.id).status == "running"
    assert not Refund.objects.filter(order_id="CRASH-1").exists()

    # The lease runs out; the sweeper re-queues the run; another worker takes it.
    later = timezone.now() + timedelta(seconds=settings.STEWARD_LEASE_SECONDS + 1)
    assert sweep(now=later)["requeued"] == 1
    assert runtime.execute(run.id) == "succeeded"

    run.refresh_from_db()
    assert run.output["answer"].startswith("Done: 40.0 has been refunded on order CRASH-1"), run.output
    assert Refund.objects.filter(order_id="CRASH-1").count() == 1
    ok = Span.objects.filter(status="ok")
    assert list(ok.filter(run=run, kind="node").order_by("seq").values_list("name", "step")) == list(
        ok.filter(run=clean, kind="node").order_by("seq").values_list("name", "step")
    )
    assert ok.filter(run=run).count() == ok.filter(run=clean).count()


def test_a_crash_after_a_resumed_node_finished_resumes_it_again_with_the_same_answer(
    engineer: Any, reviewer: Any, monkeypatch: pytest.MonkeyPatch, purge_broker: None
) -> None:
    """The resumed node's output and the answer it consumed commit with its step's checkpoint
    (agents/engine/checkpointer.py): a worker dying before that commit leaves the interrupt
    pending, and the next worker resumes it with the same answer, read from the approval. The
    refund the approved tool made before the crash is not made twice (the gate's ledger)."""
    if connection.vendor != "postgresql":
        pytest.skip("the Postgres checkpointer")
    from approvals.models import ApprovalRequest
    from approvals.services import decide

    run = start_run("refund", {"order_id": "CRASH-GATE", "amount": 250, "reason": "late"}, engineer)
    assert runtime.execute(run.id) == "waiting"
    request = ApprovalRequest.objects.get(run=run, status=ApprovalRequest.Status.PENDING)
    decide(request.id, reviewer, "approve", comment="ok")
    # Steps: 1 agent, 2 lookup, 3 agent, 4 refund (the gate: resumed here), 5 agent.
    with monkeypatch.context() as patch:
        _die_before_checkpoint_of_step(patch, 4)
        with pytest.raises(WorkerDied):
            runtime.execute(run.id)
    assert Refund.objects.filter(order_id="CRASH-GATE").count() == 1  # the tool ran before the death

    later = timezone.now() + timedelta(seconds=settings.STEWARD_LEASE_SECONDS + 1)
    assert sweep(now=later)["requeued"] == 1
    assert runtime.execute(run.id) == "succeeded"
    run.refresh_from_db()
    assert "refunded on order CRASH-GATE" in run.output["answer"], run.output
    assert Refund.objects.filter(order_id="CRASH-GATE").count() == 1
    assert ApprovalRequest.objects.get(id=request.id).status == ApprovalRequest.Status.APPROVED
