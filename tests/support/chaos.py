"""`manage.py chaos` against the private instances of the fault tests, and reading their
database directly, not through the code under test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg

from console.harness.chaos_instances import Instances, driver_env
from tests.support.processes import fresh_django


def run_chaos(instances: Instances, tmp_path: Path, *args: str, timeout: float = 170) -> tuple[int, dict[str, Any], str]:
    """`manage.py chaos --instances ...` on the private instances: (exit code, the one scenario's
    figures, what it printed)."""
    figures = tmp_path / "figures.json"
    result = fresh_django(
        "manage.py", "chaos", "--instances", str(instances.save()), "--json", str(figures), *args,
        env=driver_env(instances), timeout=timeout,
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


def refunds_per_order(instances: Instances, batch: str, prefix: str = "CH") -> dict[str, int]:
    """Refund rows per order of the batch: "CH" the refund runs', "CF" the fan-out runs' parts."""
    rows = query(
        instances, "SELECT order_id, count(*) FROM agents_refund WHERE order_id LIKE %s GROUP BY order_id", f"{prefix}-{batch}-%"
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
