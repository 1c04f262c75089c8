"""Fixtures of the agent tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.graphs import STALL


@pytest.fixture
def stalled_nodes_released() -> Iterator[None]:
    """The test agents' stalling nodes wait on STALL during the test and are let go after it."""
    STALL.clear()
    yield
    # A node left stalling by a timeout returns now; what it writes then is refused (no lease).
    STALL.set()
