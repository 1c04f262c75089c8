"""Fault tests: a private Postgres and Redis (initdb and redis-server on free ports, never the
machine's shared services), and `manage.py chaos` run against them as a user would run it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings

from console.harness.chaos_instances import ROOT, Instances, MissingBinaries, driver_env


@pytest.fixture(scope="session")
def private_instances() -> Iterator[Instances]:
    """One private Postgres (migrated) and Redis for the session's fault tests."""
    try:
        instances = Instances.start()
    except MissingBinaries as exc:
        if settings.REQUIRE_SERVICES:
            pytest.fail(f"REQUIRE_SERVICES=1 but {exc}")
        pytest.skip(str(exc))
    try:
        instances.migrate()
        yield instances
    finally:
        instances.destroy()


def run_chaos(instances: Instances, tmp_path: Path, *args: str, timeout: float = 170) -> tuple[int, dict[str, Any], str]:
    """`manage.py chaos --instances ...` on the private instances: (exit code, the one scenario's
    figures, what it printed)."""
    figures = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, "manage.py", "chaos", "--instances", str(instances.save()), "--json", str(figures), *args],
        cwd=ROOT,
        env=driver_env(instances),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = result.stdout + result.stderr
    assert figures.exists(), output
    [scenario] = json.loads(figures.read_text())
    return result.returncode, scenario, output


def query(instances: Instances, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Read the private database directly, not through the code under test."""
    with psycopg.connect(instances.postgres.url(), autocommit=True) as conn:
        return list(conn.execute(sql, params).fetchall())


def runs_by_status(instances: Instances, batch: str) -> dict[str, int]:
    rows = query(instances, "SELECT status, count(*) FROM agents_run WHERE metadata->>'chaos' = %s GROUP BY status", batch)
    return dict(rows)


def refunds_per_order(instances: Instances, batch: str) -> dict[str, int]:
    rows = query(
        instances, "SELECT order_id, count(*) FROM agents_refund WHERE order_id LIKE %s GROUP BY order_id", f"CH-{batch}-%"
    )
    return dict(rows)


def refund_answers(instances: Instances, batch: str) -> list[str]:
    """The final answer of each refund run of the batch."""
    rows = query(
        instances,
        "SELECT output->>'answer' FROM agents_run WHERE metadata->>'chaos' = %s AND metadata->>'kind' LIKE 'refund%%'",
        batch,
    )
    return [answer or "" for (answer,) in rows]
