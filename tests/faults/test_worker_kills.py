"""Kill -9 workers at random points of real runs: every run completes, no recorded step is
lost, no gated side effect happens twice."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from console.chaos_instances import Instances
from tests.faults.conftest import query, refund_answers, refunds_per_order, run_chaos, runs_by_status

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    # On an idle machine the harness's kills keep missing: the demo runs leave `running` before
    # the aim lands (0 faults injected in CI twice), so this is opt-in until the aim is fixed.
    # `manage.py chaos --scenario kill` reports the same figures and fails on the same invariants.
    pytest.mark.skipif(os.environ.get("STEWARD_KILL_TEST") != "1", reason="set STEWARD_KILL_TEST=1 (the kill aim misses on an idle machine)"),
]


def test_sigkill_of_the_process_running_a_run_loses_nothing(private_instances: Instances, tmp_path: Path) -> None:
    """Three kills of the pool process executing a run (its claim, a step, the ledger, a checkpoint
    or its last write); the sweeper re-queues each run hit once its lease expires."""
    for attempt in range(3):
        (tmp_path / str(attempt)).mkdir()
        code, figures, output = run_chaos(
            private_instances, tmp_path / str(attempt), "--scenario", "kill", "--runs", "10", "--faults", "3",
            "--workers", "2", "--whole-worker-kills", "0", "--seed", str(attempt),
        )
        # Whatever the aim, nothing may be lost or doubled and every run must finish.
        assert (figures["lost_spans"], figures["extra_spans"], figures["doubled_steps"]) == (0, 0, 0), output
        assert figures["succeeded"] == 10, output
        # A kill can miss (the runs ended while it aimed): that is a miss of the harness, not a
        # fault of the product, so aim again with another seed. One batch must really hit a run.
        if code == 0 and figures["faults"] == 3 and figures["runs_hit"] >= 1:
            break
    assert code == 0, output
    assert figures["faults"] == 3, output
    assert figures["runs_hit"] >= 1, output  # at least one execution really died mid-run
    assert figures["sweeper_requeued"] >= 1, output
    assert (figures["lost_spans"], figures["steps_without_span"], figures["extra_spans"], figures["doubled_steps"]) == (0, 0, 0, 0)

    # The same, read from the database directly.
    batch = figures["batch"]
    assert runs_by_status(private_instances, batch) == {"succeeded": 10}
    # Runs 0, 1, 3, 4, 6, 7 and 9 are refunds (over 100 approved by a reviewer, or under it by condition).
    orders = refunds_per_order(private_instances, batch)
    assert sorted(orders) == sorted(f"CH-{batch}-{n}" for n in (0, 1, 3, 4, 6, 7, 9))
    assert set(orders.values()) == {1}
    assert all(answer.startswith("Done: ") for answer in refund_answers(private_instances, batch)), refund_answers(
        private_instances, batch
    )
    doubled = query(
        private_instances,
        "SELECT s.run_id, s.step FROM traces_span s JOIN agents_run r ON r.id = s.run_id "
        "WHERE r.metadata->>'chaos' = %s AND s.kind = 'node' AND s.status = 'ok' GROUP BY s.run_id, s.step HAVING count(*) > 1",
        batch,
    )
    assert doubled == []
