"""Fault tests: a private Postgres and Redis (initdb and redis-server on free ports, never the
machine's shared services), and `manage.py chaos` run against them as a user would run it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings

from console.harness.chaos_instances import Instances, MissingBinaries


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
