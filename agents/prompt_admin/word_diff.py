"""Two prompt versions' `version_diff` rows made readable side by side: each block of replaced
lines re-paired so an edited line sits beside its old self, and in an edited line the words that
changed. Plain data; the prompt pages' template filters (agents/templatetags/prompt_tags.py) only
call it.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

__all__ = ["PAIR_CUTOFF", "changed_rows", "pair_lines", "realigned", "side_by_side", "word_segments"]

_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")

# Two lines of a changed block are shown as one edited line when at least this similar;
# otherwise as a removed line and an added one (as difflib.Differ does).
PAIR_CUTOFF = 0.5


def word_segments(a: str, b: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Both sides of a changed line cut into runs of unchanged and changed words (a word, not a
    character, is what a reader looks for)."""
    left_tokens, right_tokens = _TOKEN.findall(a), _TOKEN.findall(b)
    left: list[dict[str, Any]] = []
    right: list[dict[str, Any]] = []
    matcher = difflib.SequenceMatcher(a=left_tokens, b=right_tokens, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if i2 > i1:
            left.append({"text": "".join(left_tokens[i1:i2]), "changed": op != "equal"})
        if j2 > j1:
            right.append({"text": "".join(right_tokens[j1:j2]), "changed": op != "equal"})
    return left, right


def pair_lines(left: list[str], right: list[str]) -> list[tuple[str | None, str | None]]:
    """A changed block's lines paired for display: the most similar pair is an edited line, the
    lines before and after it are paired the same way, and what finds no partner stands alone."""
    if not left or not right:
        return [(line, None) for line in left] + [(None, line) for line in right]
    best, best_i, best_j = PAIR_CUTOFF, -1, -1
    for i, a in enumerate(left):
        for j, b in enumerate(right):
            matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
            if matcher.real_quick_ratio() > best and matcher.quick_ratio() > best and matcher.ratio() > best:
                best, best_i, best_j = matcher.ratio(), i, j
    if best_i < 0:
        # A rewritten passage: nothing pairs up, so show it side by side as it comes.
        return [
            (left[k] if k < len(left) else None, right[k] if k < len(right) else None)
            for k in range(max(len(left), len(right)))
        ]
    return [
        *pair_lines(left[:best_i], right[:best_j]),
        (left[best_i], right[best_j]),
        *pair_lines(left[best_i + 1 :], right[best_j + 1 :]),
    ]


def realigned(rows: Any) -> list[tuple[str, Any, Any]]:
    """`version_diff` rows as (op, left, right), with each block of replaced lines re-paired.
    Anything that is not a list of row dicts reads as no rows."""
    out: list[tuple[str, Any, Any]] = []
    block_left: list[str] = []
    block_right: list[str] = []

    def flush() -> None:
        for a, b in pair_lines(block_left, block_right):
            out.append(("replace" if a is not None and b is not None else "delete" if b is None else "insert", a, b))
        block_left.clear()
        block_right.clear()

    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict):
            continue
        op, left, right = str(row.get("op", "equal")), row.get("left"), row.get("right")
        if op == "replace":
            if left is not None:
                block_left.append(str(left))
            if right is not None:
                block_right.append(str(right))
            continue
        flush()
        out.append((op if op in ("equal", "delete", "insert") else "replace", left, right))
    flush()
    return out


def side_by_side(rows: Any) -> list[dict[str, Any]]:
    """`version_diff` rows ({op, left, right}) ready for a side-by-side table: line numbers on
    each side, an edited line beside its old self, and in it the words that changed."""
    shown: list[dict[str, Any]] = []
    left_no = right_no = 0
    for op, left, right in realigned(rows):
        left_no += left is not None
        right_no += right is not None
        item: dict[str, Any] = {
            "op": op,
            "left": None if left is None else str(left),
            "right": None if right is None else str(right),
            "left_no": left_no if left is not None else "",
            "right_no": right_no if right is not None else "",
            "left_parts": [],
            "right_parts": [],
        }
        if op == "replace" and left is not None and right is not None:
            item["left_parts"], item["right_parts"] = word_segments(str(left), str(right))
        shown.append(item)
    return shown


def changed_rows(rows: Any) -> int:
    """How many rows of a diff are not equal (after re-pairing, as `side_by_side` shows them)."""
    return sum(1 for op, _, _ in realigned(rows) if op != "equal")
