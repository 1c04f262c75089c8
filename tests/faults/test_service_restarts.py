"""Postgres and Redis restarted under running work: runs recover with no manual step."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.harness.chaos_instances import Instances
from tests.support.chaos import refund_answers, refunds_per_order, run_chaos, runs_by_status

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_postgres_crash_and_restart_during_runs(private_instances: Instances, tmp_path: Path) -> None:
    """Postgres stops abruptly (`pg_ctl -m immediate`) while runs start and execute, and comes
    back a second later: workers, the sweeper and the checkpointer's pool reconnect by themselves."""
    code, figures, output = run_chaos(
        private_instances, tmp_path, "--scenario", "postgres", "--runs", "6", "--faults", "1", "--pace", "0.1"
    )
    assert code == 0, output
    assert figures["faults"] == 1 and figures["down_s"][0] >= 1.0, output
    assert figures["runs_hit"] >= 1, output  # runs were queued or running when it went down
    assert figures["driver_errors"], output  # the outage was seen by the driver itself

    batch = figures["batch"]
    assert runs_by_status(private_instances, batch) == {"succeeded": 6}
    assert set(refunds_per_order(private_instances, batch).values()) == {1}
    assert len(refunds_per_order(private_instances, batch)) == 4
    assert all(answer.startswith("Done: ") for answer in refund_answers(private_instances, batch))


def test_redis_restart_with_nothing_persisted_loses_no_run(private_instances: Instances, tmp_path: Path) -> None:
    """Redis is killed and starts empty while runs wait in its queue: the messages are gone, and
    the sweeper sends those runs again from the database."""
    code, figures, output = run_chaos(
        private_instances, tmp_path, "--scenario", "redis", "--runs", "6", "--faults", "1", "--workers", "1",
        "--pace", "0.02",
    )
    assert code == 0, output
    assert figures["faults"] == 1, output
    assert figures["runs_hit"] >= 1, output
    assert figures["sweeper_resent"] >= 1, output  # lost messages, sent again

    batch = figures["batch"]
    assert runs_by_status(private_instances, batch) == {"succeeded": 6}
    assert set(refunds_per_order(private_instances, batch).values()) == {1}
    assert len(refunds_per_order(private_instances, batch)) == 4
