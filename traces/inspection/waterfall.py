"""What the run page draws: the span waterfall, a span's payloads, and its state diff."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeGuard

from agents.engine.checkpointer import checkpointer
from agents.engine.models import Run
from console.kernel.redaction import redact
from console.kernel.serialize import to_jsonable
from traces.recording.models import Span

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

__all__ = ["PAYLOAD_CAP", "WaterfallRow", "payload_view", "state_diff", "waterfall"]

# Characters of a payload shown inline; the rest is a download, so a huge field never freezes
# the browser.
PAYLOAD_CAP = 20_000
PAGE = 500


@dataclass
class WaterfallRow:
    span: Span
    depth: int
    offset_pct: float
    width_pct: float
    # The node execution the span is (or is under), numbered 1..run.steps in start order: what
    # the run's `steps` counts (Span.step is LangGraph's superstep, which replay works with).
    step: int | None = None


def waterfall(run: Run, spans: Sequence[Span]) -> list[WaterfallRow]:
    """Rows nested by parent, with bars placed on the run's own time axis.

    One narrow query over the run's spans gives every parent and the run's time window, so a
    page of rows (or a live append) is placed where the whole run would place it.
    """
    if not spans:
        return []
    shape = list(
        Span.objects.filter(run=run).order_by("seq").values_list("id", "parent_id", "started_at", "latency_ms", "kind")
    )
    parents = {span_id: parent_id for span_id, parent_id, _, _, _ in shape}
    node_numbers = _node_numbers(shape)
    start = min(started for _, _, started, _, _ in shape)
    end = max(started + timedelta(milliseconds=latency) for _, _, started, latency, _ in shape)
    total_ms = max((end - start).total_seconds() * 1000, 0.001)
    rows = []
    for span in spans:
        depth, parent = 0, span.parent_id
        step = node_numbers.get(span.id)
        while parent is not None and depth < 10:
            depth += 1
            step = step or node_numbers.get(parent)
            parent = parents.get(parent)
        offset = max(0.0, (span.started_at - start).total_seconds() * 1000 / total_ms * 100)
        width = max(0.5, min(100.0 - offset, span.latency_ms / total_ms * 100))
        rows.append(WaterfallRow(span, depth, round(min(offset, 99.5), 2), round(width, 2), step))
    return rows


def _node_numbers(shape: Sequence[tuple[Any, ...]]) -> dict[Any, int]:
    """Node span id → its number among the run's node spans in start (seq) order, from 1."""
    nodes = [span_id for span_id, _, _, _, kind in shape if kind == Span.Kind.NODE]
    return {span_id: number for number, span_id in enumerate(nodes, start=1)}


def _is_chat(value: Any) -> TypeGuard[list[dict[str, Any]]]:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(m, dict) and "type" in m and "content" in m for m in value)
    )


def payload_view(value: Any) -> dict[str, Any]:
    """How to show one payload: as a conversation, or as pretty JSON capped at PAYLOAD_CAP."""
    if value is None:
        return {"empty": True}
    messages = value.get("messages") if isinstance(value, dict) and _is_chat(value.get("messages")) else value
    chat = None
    if _is_chat(messages):
        chat = [
            {
                "role": m.get("type", ""),
                "name": m.get("name") or "",
                "text": m["content"] if isinstance(m["content"], str) else json.dumps(m["content"], ensure_ascii=False),
                "calls": [f"{c.get('name')}({json.dumps(c.get('args'), ensure_ascii=False)})" for c in m.get("tool_calls") or []],
            }
            for m in messages
        ]
    pretty = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
    raw = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return {
        "chat": chat,
        "pretty": pretty[:PAYLOAD_CAP],
        "raw": raw[:PAYLOAD_CAP],
        "truncated": len(pretty) > PAYLOAD_CAP,
        "size": len(raw),
    }


def _values(found: Any) -> dict[str, Any]:
    # Checkpoints hold the state as the agent had it: what is shown is redacted.
    values = redact(to_jsonable(found.checkpoint.get("channel_values", {})))
    return {k: v for k, v in values.items() if not k.startswith("branch:") and not k.startswith("__")}


def state_diff(run: Run, span: Span) -> dict[str, Any] | None:
    """The state a node's step saved, against the state it ran from: keys added, changed,
    removed; for lists (messages), the items appended.

    A span's checkpoint is the one its step ran from (spans are written with their task's
    pending writes); the state the step saved is that checkpoint's child.
    """
    if span.kind != Span.Kind.NODE or not span.checkpoint_id:
        return None

    thread: RunnableConfig = {"configurable": {"thread_id": run.thread_id, "checkpoint_ns": ""}}
    with checkpointer() as saver:
        base = saver.get_tuple({"configurable": {**thread["configurable"], "checkpoint_id": span.checkpoint_id}})
        child = next(
            (
                c
                for c in saver.list(thread)
                if c.parent_config and c.parent_config["configurable"].get("checkpoint_id") == span.checkpoint_id
            ),
            None,
        )
    if base is None:
        return None
    if child is None:
        return {"checkpoint_id": span.checkpoint_id, "saved": False, "changes": []}
    before, after = _values(base), _values(child)
    changes = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key not in before:
            changes.append({"key": key, "kind": "added", "value": payload_view(new)})
        elif key not in after:
            changes.append({"key": key, "kind": "removed", "value": payload_view(old)})
        elif isinstance(old, list) and isinstance(new, list) and new[: len(old)] == old:
            changes.append({"key": key, "kind": "appended", "value": payload_view(new[len(old) :])})
        else:
            changes.append({"key": key, "kind": "changed", "old": payload_view(old), "value": payload_view(new)})
    return {"checkpoint_id": child.config["configurable"]["checkpoint_id"], "saved": True, "changes": changes}
