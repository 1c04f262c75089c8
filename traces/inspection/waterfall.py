"""What the run page draws: the span waterfall, a span's payloads, and its state diff."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeGuard

from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast

from agents.engine.checkpointer import checkpointer
from agents.engine.models import Run
from console.kernel.redaction import redact
from console.kernel.serialize import to_jsonable
from traces.recording.models import Span

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

__all__ = [
    "PAYLOAD_CAP", "SpanTree", "WaterfallRow", "failing_span", "payload_view", "span_tree", "spans_containing",
    "state_diff", "waterfall", "waterfall_page",
]

# Characters of a payload shown inline; the rest is a download, so a huge field never freezes
# the browser.
PAYLOAD_CAP = 20_000


def spans_containing(spans: QuerySet[Span], text: str) -> QuerySet[Span]:
    """The spans whose name, model, error, input or output contains `text` in any case: the
    waterfall's search reaches into payloads the page never loads. The stored payloads are the
    redacted ones (originals are sealed apart), so a search cannot find what redaction hid."""
    return spans.annotate(input_text=Cast("input", TextField()), output_text=Cast("output", TextField())).filter(
        Q(name__icontains=text) | Q(model__icontains=text) | Q(error__icontains=text)
        | Q(input_text__icontains=text) | Q(output_text__icontains=text)
    )


@dataclass
class WaterfallRow:
    span: Span
    depth: int
    offset_pct: float
    width_pct: float
    # The node execution the span is (or is under), numbered 1..run.steps in start order: what
    # the run's `steps` counts (Span.step is LangGraph's superstep, which replay works with).
    step: int | None = None
    children: int = 0
    # Milliseconds from the run's first span to this one's start (the browser's time axis).
    start_ms: float = 0.0


@dataclass
class SpanTree:
    """A run's spans as a tree, from one narrow query (no payloads): what the waterfall needs to
    place any page of rows where the whole run would place it."""

    order: list[uuid.UUID]  # span ids, depth first, children in start order
    depth: dict[uuid.UUID, int]
    parent: dict[uuid.UUID, uuid.UUID | None]
    children: dict[uuid.UUID, int]
    node_number: dict[uuid.UUID, int]
    seq: dict[uuid.UUID, int]
    start: datetime | None
    total_ms: float

    def step_of(self, span_id: uuid.UUID) -> int | None:
        """The node number of the span or of its nearest node ancestor."""
        current: uuid.UUID | None = span_id
        while current is not None:
            if current in self.node_number:
                return self.node_number[current]
            current = self.parent.get(current)
        return None


def span_tree(run: Run) -> SpanTree:
    """The run's spans in tree order. A span whose parent was not recorded (a crashed attempt's)
    is a root, so no span is ever hidden."""
    shape = list(
        Span.objects.filter(run=run).order_by("seq").values_list("id", "parent_id", "seq", "started_at", "latency_ms", "kind")
    )
    known = {row[0] for row in shape}
    kids: dict[uuid.UUID | None, list[uuid.UUID]] = {}
    parent: dict[uuid.UUID, uuid.UUID | None] = {}
    for span_id, parent_id, _, _, _, _ in shape:
        up = parent_id if parent_id in known and parent_id != span_id else None
        parent[span_id] = up
        kids.setdefault(up, []).append(span_id)
    order: list[uuid.UUID] = []
    depth: dict[uuid.UUID, int] = {}
    stack = [(span_id, 0) for span_id in reversed(kids.get(None, []))]
    while stack:
        span_id, level = stack.pop()
        if span_id in depth:
            continue  # a cycle in bad data: show each span once
        depth[span_id] = level
        order.append(span_id)
        stack.extend((child, level + 1) for child in reversed(kids.get(span_id, [])))
    start = min((row[3] for row in shape), default=None)
    end = max((row[3] + timedelta(milliseconds=row[4]) for row in shape), default=None)
    total_ms = max((end - start).total_seconds() * 1000, 0.001) if start and end else 0.001
    nodes = [row[0] for row in shape if row[5] == Span.Kind.NODE]
    return SpanTree(
        order=order,
        depth=depth,
        parent=parent,
        children={span_id: len(kids.get(span_id, [])) for span_id in known},
        node_number={span_id: number for number, span_id in enumerate(nodes, start=1)},
        seq={row[0]: row[2] for row in shape},
        start=start,
        total_ms=total_ms,
    )


def waterfall(run: Run, spans: Sequence[Span], tree: SpanTree | None = None) -> list[WaterfallRow]:
    """Rows for `spans` (in the order given), nested by parent, with bars placed on the run's
    own time axis, so a page of rows (or a live append) sits where the whole run would put it."""
    if not spans:
        return []
    tree = tree or span_tree(run)
    start = tree.start or spans[0].started_at
    rows = []
    for span in spans:
        start_ms = max(0.0, (span.started_at - start).total_seconds() * 1000)
        offset = start_ms / tree.total_ms * 100
        width = max(0.5, min(100.0 - offset, span.latency_ms / tree.total_ms * 100))
        rows.append(
            WaterfallRow(
                span,
                tree.depth.get(span.id, 0),
                round(min(offset, 99.5), 2),
                round(width, 2),
                tree.step_of(span.id),
                tree.children.get(span.id, 0),
                round(start_ms, 3),
            )
        )
    return rows


def waterfall_page(run: Run, after: int | None, limit: int) -> tuple[list[WaterfallRow], int | None]:
    """Up to `limit` rows in tree order, following the span numbered `after` (from the top for
    None): the page the server draws, and the seq to continue after (None: nothing follows)."""
    tree = span_tree(run)
    position = 0
    if after is not None:
        by_seq = {seq: span_id for span_id, seq in tree.seq.items()}
        if by_seq.get(after) in tree.depth:
            position = tree.order.index(by_seq[after]) + 1
    ids = tree.order[position : position + limit]
    spans = {s.id: s for s in Span.objects.filter(run=run, id__in=ids).defer("input", "output")}
    rows = waterfall(run, [spans[span_id] for span_id in ids if span_id in spans], tree)
    more = position + limit < len(tree.order)
    return rows, (rows[-1].span.seq if more and rows else None)


def failing_span(run: Run, tree: SpanTree | None = None) -> Span | None:
    """The span a failed run failed in: the deepest span with an error (the tool call rather
    than the node around it), the latest of those."""
    errors = list(Span.objects.filter(run=run, status=Span.Status.ERROR).values_list("id", "seq"))
    if not errors:
        return None
    tree = tree or span_tree(run)
    span_id = max(errors, key=lambda e: (tree.depth.get(e[0], 0), e[1]))[0]
    return Span.objects.filter(id=span_id).defer("input", "output").first()


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
