"""docs/architecture.md is the map of the code: every path it names must exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
# Paths in backticks: a folder (`agents/engine/`) or a file with an extension (`console/kernel/live.py`).
PATH = re.compile(r"`((?:console|agents|approvals|traces|templates|docs|tests|static)/[\w./-]*)`")
FUTURE = "## Where the next features go"


def named_paths(text: str) -> list[str]:
    return sorted(set(PATH.findall(text)))


def test_every_path_the_architecture_document_names_exists() -> None:
    text = DOC.read_text().split(FUTURE)[0]
    paths = named_paths(text)
    assert len(paths) > 40, "the document should map the packages and features to their paths"
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert missing == [], f"docs/architecture.md names paths that do not exist: {missing}"


def test_the_features_the_issue_names_are_mapped() -> None:
    text = DOC.read_text()
    for feature in ("dead-letter list", "circuit breaker", "prompt promotion", "live run fragment", "OTel export"):
        row = next((line for line in text.splitlines() if line.startswith(f"| the {feature}") or line.startswith(f"| {feature}")), None)
        assert row is not None, f"no row for {feature}"
        assert named_paths(row), f"the row for {feature} names no path"


def test_the_checker_sees_a_missing_path() -> None:
    assert named_paths("see `agents/engine/nope.py` and `console/kernel/`") == ["agents/engine/nope.py", "console/kernel/"]
