"""Writing spans with one statement per batch, on whichever connection holds the transaction.

The checkpointer calls this with its own psycopg or sqlite3 cursor, inside the transaction
that saves the step's checkpoint; the runtime calls it with Django's cursor when a run stops.

Every span is stored redacted (console/kernel/redaction.py), so pages, the API, exports and anything
else that reads spans never see a secret. When redaction changed a model or tool call's output
or error, the originals are sealed into `sealed` (console/kernel/sealing.py) for recorded replay. A
payload with no candidate secret costs one extra scan of its JSON text.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from console.kernel.redaction import might_contain_secret, redact_text, redacted
from console.kernel.sealing import seal_json
from traces.recording.recorder import SpanRecord

__all__ = ["insert_spans", "span_insert_sql", "stored_form", "stored_payloads"]

_COLUMNS = (
    "id, run_id, parent_id, seq, kind, name, status, started_at, latency_ms, input, output, error, "
    "tokens_in, tokens_out, cost, model, checkpoint_id, step, prompt_version_id, sealed"
)
# The calls a recorded replay answers from their spans (traces/recording/cassette.py).
_REPLAYED_KINDS = ("model", "tool")


def span_insert_sql(vendor: str, placeholder: str) -> str:
    p = placeholder
    json_p = f"{p}::jsonb" if vendor == "postgresql" else p
    values = ", ".join([p] * 9 + [json_p, json_p] + [p] * 9)
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


def _json(value: Any) -> tuple[str, Any]:
    """The value's JSON text, redacted; and the original value if redaction changed it (else None)."""
    text = json.dumps(value)
    if not might_contain_secret(text):
        return text, None
    clean, changed = redacted(value)
    return (json.dumps(clean), value) if changed else (text, None)


def stored_form(value: Any) -> Any:
    """A span's input as the database keeps it (JSON, redacted): what a cassette compares a live
    call's input with (traces/recording/cassette.py)."""
    return json.loads(_json(value)[0])


def stored_payloads(span: SpanRecord) -> tuple[str, str, str, bytes | None]:
    """(input JSON, output JSON, error) as stored, redacted; and the sealed originals of what
    redaction changed in a model or tool call's output and error (None when nothing was)."""
    input_json, _ = _json(span.input)
    output_json, output = _json(span.output)
    error = redact_text(span.error) if span.error else span.error
    if span.kind not in _REPLAYED_KINDS or (output is None and error is span.error):
        return input_json, output_json, error, None
    originals: dict[str, Any] = {}
    if output is not None:
        originals["output"] = output
    if error is not span.error:
        originals["error"] = span.error
    # Bound to the span's id: a sealed value copied onto another span does not open.
    return input_json, output_json, error, seal_json(originals, span.id.bytes)


def span_params(vendor: str, run_id: uuid.UUID, span: SpanRecord, checkpoint_id: str) -> tuple[Any, ...]:
    input_json, output_json, error, sealed = stored_payloads(span)
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
        input_json,
        output_json,
        error,
        span.tokens_in,
        span.tokens_out,
        span.cost,
        span.model[:200],
        span.checkpoint_id or checkpoint_id,
        span.step,
        span.prompt_version_id,
        sealed,
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
