"""The OpenTelemetry names the OTLP export uses (traces/inspection/otel.py).

OpenTelemetry is an optional extra (`steward[otel]`): otel.py imports this module only when it
exports, so a Steward without the extra loads, and `manage.py check` says what is missing.
"""

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

__all__ = [
    "InstrumentationScope", "OTLPSpanExporter", "ReadableSpan", "Resource", "SpanContext", "SpanExportResult",
    "SpanKind", "Status", "StatusCode", "TraceFlags",
]
