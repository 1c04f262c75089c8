"""Display helpers for the prompt pages and the promotion request page: diff rows with the
changed words marked, rates as percentages, A/B splits as text. Everything returned is
plain data or plain text; the templates escape it."""

from __future__ import annotations

import difflib
import re
from typing import Any

from django import template

register = template.Library()

__all__ = ["diff_changes", "percent", "prompt_diff", "split_text", "vlabel"]


_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")


def _segments(a: str, b: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
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


# Two lines of a changed block are shown as one edited line when at least this similar;
# otherwise as a removed line and an added one (as difflib.Differ does).
PAIR_CUTOFF = 0.5


def _pair(left: list[str], right: list[str]) -> list[tuple[str | None, str | None]]:
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
        *_pair(left[:best_i], right[:best_j]),
        (left[best_i], right[best_j]),
        *_pair(left[best_i + 1 :], right[best_j + 1 :]),
    ]


def _realigned(rows: list[Any]) -> list[tuple[str, Any, Any]]:
    """`version_diff` rows as (op, left, right), with each block of replaced lines re-paired."""
    out: list[tuple[str, Any, Any]] = []
    block_left: list[str] = []
    block_right: list[str] = []

    def flush() -> None:
        for a, b in _pair(block_left, block_right):
            out.append(("replace" if a is not None and b is not None else "delete" if b is None else "insert", a, b))
        block_left.clear()
        block_right.clear()

    for row in rows:
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


@register.filter
def prompt_diff(rows: Any) -> list[dict[str, Any]]:
    """`version_diff` rows ({op, left, right}) ready for a side-by-side table: line numbers on
    each side, an edited line beside its old self, and in it the words that changed."""
    shown: list[dict[str, Any]] = []
    left_no = right_no = 0
    for op, left, right in _realigned(rows if isinstance(rows, list) else []):
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
            item["left_parts"], item["right_parts"] = _segments(str(left), str(right))
        shown.append(item)
    return shown


@register.filter
def diff_changes(rows: Any) -> int:
    """How many rows of a diff are not equal."""
    return sum(1 for op, _, _ in _realigned(rows if isinstance(rows, list) else []) if op != "equal")


@register.filter
def percent(rate: Any) -> str:
    if rate is None or rate == "":
        return "–"
    try:
        return f"{float(rate) * 100:.0f} %"
    except (TypeError, ValueError):
        return "–"


@register.filter
def split_text(split: Any) -> str:
    """[{"version": 3, "weight": 80}, {"version": 4, "weight": 20}] → "v3 80 % / v4 20 %"."""
    if not isinstance(split, list) or not split:
        return ""
    try:
        total = sum(float(part["weight"]) for part in split) or 1.0
        return " / ".join(f"v{part['version']} {float(part['weight']) / total * 100:.0f} %" for part in split)
    except (KeyError, TypeError, ValueError):
        return str(split)


@register.filter
def vlabel(number: Any, note: str = "") -> str:
    """3, "live" → "v3 (live)"; None → "–"."""
    if number in (None, ""):
        return "–"
    return f"v{number} ({note})" if note else f"v{number}"
