"""Writing spans with one statement per batch, on whichever connection holds the transaction.

The checkpointer calls this with its own psycopg or sqlite3 cursor, inside the transaction
that saves the step's checkpoint; the runtime calls it with Django's cursor when a run stops.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from traces.recorder import SpanRecord

__all__ = ["insert_spans", "span_insert_sql"]

_COLUMNS = (
    "id, run_id, parent_id, seq, kind, name, status, started_at, latency_ms, input, output, error, "
    "tokens_in, tokens_out, cost, model, checkpoint_id, step, prompt_version_id"
)


def span_insert_sql(vendor: str, placeholder: str) -> str:
    p = placeholder
    json_p = f"{p}::jsonb" if vendor == "postgresql" else p
    values = ", ".join([p] * 9 + [json_p, json_p] + [p] * 8)
    # A span is written once; ON CONFLICT keeps a retried flush harmless.
    return f"INSERT INTO traces_span ({_COLUMNS}) VALUES ({values}) ON CONFLICT (id) DO NOTHING"


def _uuid(vendor: str, value: uuid.UUID | None) -> Any:
    if value is None:
        return None
    # Django stores UUIDs on SQLite as 32 hex characters.
    return value if vendor == "postgresql" else value.hex


def _when(vendor: str, value: datetime) -> Any:
    if vendor == "postgresql":
        return value
    # Django's SQLite format: naive UTC text.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


def span_params(vendor: str, run_id: uuid.UUID, span: SpanRecord, checkpoint_id: str) -> tuple[Any, ...]:
    return (
        _uuid(vendor, span.id),
        _uuid(vendor, run_id),
        _uuid(vendor, span.parent_id),
        span.seq,
        span.kind,
        span.name[:200],
        span.status,
        _when(vendor, span.started_at),
        span.latency_ms,
        json.dumps(span.input),
        json.dumps(span.output),
        span.error,
        span.tokens_in,
        span.tokens_out,
        span.cost,
        span.model[:200],
        span.checkpoint_id or checkpoint_id,
        span.step,
        span.prompt_version_id,
    )


def insert_spans(
    cursor: Any,
    vendor: str,
    placeholder: str,
    run_id: uuid.UUID,
    spans: Sequence[SpanRecord],
    checkpoint_id: str = "",
) -> None:
    if not spans:
        return
    cursor.executemany(
        span_insert_sql(vendor, placeholder),
        [span_params(vendor, run_id, span, checkpoint_id) for span in spans],
    )
