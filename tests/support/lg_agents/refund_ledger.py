"""What the example tools did, kept in the process (the tests read it)."""

from __future__ import annotations

from typing import Any

ISSUED: list[dict[str, Any]] = []
