"""Kill -9 workers at random points of real runs: every run completes, no recorded step is
lost, no gated side effect happens twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.harness.chaos_instances import Instances
from tests.support.chaos import query, refund_answers, refunds_per_order, run_chaos, runs_by_status

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_sigkill_of_the_process_running_a_run_loses_nothing(private_instances: Instances, tmp_path: Path) -> None:
    """Three kills of the pool process executing a run (its claim, a step, the ledger, a checkpoint
    or its last write); the sweeper re-queues each run hit once its lease expires."""
    code, figures, output = run_chaos(
        private_instances, tmp_path, "--scenario", "kill", "--runs", "10", "--faults", "3", "--workers", "2",
        "--whole-worker-kills", "0",
    )
    assert figures["succeeded"] == 10, output
    assert code == 0, output
    assert figures["faults"] == 3, output
    assert figures["runs_hit"] >= 1, output  # at least one execution really died mid-run
    assert figures["sweeper_requeued"] >= 1, output
    assert (figures["lost_spans"], figures["steps_without_span"], figures["extra_spans"], figures["doubled_steps"]) == (0, 0, 0, 0)

    # The same, read from the database directly.
    batch = figures["batch"]
    assert runs_by_status(private_instances, batch) == {"succeeded": 10}
    # Runs 0, 1, 4, 5, 8 and 9 are refunds (over 100 approved by a reviewer, or under it by
    # condition); runs 3 and 7 fan out (Send) one ledgered refund per part.
    orders = refunds_per_order(private_instances, batch)
    assert sorted(orders) == sorted(f"CH-{batch}-{n}" for n in (0, 1, 4, 5, 8, 9))
    parts = refunds_per_order(private_instances, batch, prefix="CF")
    assert sorted(parts) == sorted(f"CF-{batch}-{n}-p{p}" for n in (3, 7) for p in range(4))
    assert set(parts.values()) == {1}
    assert set(orders.values()) == {1}
    assert all(answer.startswith("Done: ") for answer in refund_answers(private_instances, batch)), refund_answers(
        private_instances, batch
    )
    # A step of several tasks (the fan-out) has a span per task, each with its own input.
    doubled = query(
        private_instances,
        "SELECT s.run_id, s.step FROM traces_span s JOIN agents_run r ON r.id = s.run_id "
        "WHERE r.metadata->>'chaos' = %s AND s.kind = 'node' AND s.status = 'ok' "
        "GROUP BY s.run_id, s.step, s.name, s.input::text HAVING count(*) > 1",
        batch,
    )
    assert doubled == []
