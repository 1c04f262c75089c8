"""A burst of run starts through a real web process on a Postgres with few connections: every
start answers 201 or a 503/429 JSON refusal, never a 5xx, and no run is lost; the web process
holds no more connections than its pool allows."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.harness.chaos_instances import Instances
from tests.support.chaos import run_chaos, runs_by_status

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_concurrent_starts_on_few_connections_answer_no_5xx_and_lose_no_run(
    private_instances: Instances, tmp_path: Path
) -> None:
    # 50 clients at once against max_connections=20: a connection per request exhausts it.
    code, figures, output = run_chaos(
        private_instances, tmp_path, "--scenario", "burst", "--burst", "50", "--reads", "40",
        "--max-connections", "20", "--web-connections", "6", "--workers", "1", timeout=400,
    )
    assert figures["server_errors_5xx"] == 0, output
    assert figures["resets"] == 0 and figures["client_errors"] == {}, output
    assert figures["created_201"] + figures["refused_503_429"] == 50, output
    # No run lost: every 201 is a run, and no run was created behind a refusal.
    assert figures["runs_created"] == figures["created_201"], output
    assert figures["created_without_201"] == 0 and figures["answered_201_not_created"] == 0, output
    assert figures["refusals_not_json"] == 0 and figures["refusals_without_retry_after"] == 0, output
    assert runs_by_status(private_instances, figures["batch"]) == {"succeeded": figures["created_201"]}
    assert figures["worker_database_errors"] == 0 and figures["loop_errors"] == 0, output
    # After 40 concurrent reads the web process holds at most its pool, not a connection per request.
    assert figures["read_server_errors_5xx"] == 0, output
    assert figures["web_connections_after_reads"] <= figures["web_pool_size"] == 6, output
    assert code == 0, output
