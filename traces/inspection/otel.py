"""OpenTelemetry export of run traces over OTLP/HTTP, with the GenAI semantic conventions.

Off unless `STEWARD_OTLP_ENDPOINT` is set; then `pip install steward[otel]` is needed. With it
off nothing here imports OpenTelemetry and nothing is sent.

When a run stops (waits for a person, succeeds or fails: `agents.engine.signals.run_stopped`) its spans
recorded since its last export are queued for a background thread of the process, which sends
them to the collector; the worker goes on at once, and a slow or dead collector only delays that
thread (each request gives up after `STEWARD_OTLP_TIMEOUT` seconds, with a warning).

How a run becomes a trace:

- trace id: the run's root id (`Run.root_id`, a UUID read as 128 bits), so a run, its replays and
  their resumes share one trace; log lines carry the same id as `trace_id` (with dashes);
- each export of a run (one per stop: the work since the previous stop) is an
  `invoke_agent {agent}` span. The run's first one is the parent of its later ones (a resume
  after an approval), and a replay's first one hangs under its source run's first one;
- each recorded span (node, model call, tool call, gate) becomes a child, with its parent from
  the database; span ids are derived from the span's UUID (`steward.span_id` keeps the UUID,
  which log lines carry as `span_id`), so they are the same however often they are built;
- times come from `started_at` and `latency_ms`; an error is status ERROR with its message and
  `error.type`; model calls are `chat {model}` and tool calls `execute_tool {tool}`.

Nothing is sent twice: `Run.metadata["otel_export"]` keeps the last exported span `seq`,
claimed (a conditional update) before sending and given back if the collector refuses, so the
next stop sends those spans again. A run's last stop has no next one: a periodic task
(`traces.retry_otel_exports`, every `STEWARD_OTLP_RETRY_SECONDS`) sends again what runs that
finished in the last `RETRY_WINDOW` still owe, until the collector takes it. Message content (inputs, outputs) is left out unless
`STEWARD_OTLP_CAPTURE_CONTENT` is on, and then goes through `console.kernel.redaction.redact`, like
every error message. Cancelled runs send nothing after their last stop (no signal fires).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from django.conf import settings
from django.core import checks
from django.db import connections
from django.db.models import Max, Q
from django.db.models.fields.json import KT
from django.utils import timezone

from agents.engine.models import Run
from console.kernel.redaction import redact
from traces.recording.models import Span

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.trace import SpanContext

    from agents.engine.models import Run
    from traces.recording.models import Span

__all__ = [
    "MARK_KEY",
    "ExportFailed",
    "build_spans",
    "check_otel_installed",
    "enabled",
    "export_run",
    "flush",
    "on_run_stopped",
    "parse_headers",
    "traces_url",
]

log = logging.getLogger(__name__)

# The key of Run.metadata that records what was exported: {"run": id, "seq": last seq, "final": bool}.
MARK_KEY = "otel_export"
# Runs waiting in a process for the export thread; past this, stops are dropped with a warning.
MAX_PENDING = 10_000
# Spans per OTLP request (a long run goes out in several).
SPANS_PER_REQUEST = 512
# Characters of one captured content attribute (STEWARD_OTLP_CAPTURE_CONTENT).
MAX_CONTENT_CHARS = 32_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# gen_ai.provider.name from the model's name, first prefix that matches (the span records no
# provider); well-known values from the GenAI conventions, "_OTHER" when none applies.
_PROVIDER_PREFIXES = (
    ("scripted", "steward.scripted"),
    ("gpt-", "openai"),
    ("chatgpt", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("text-embedding", "openai"),
    ("claude", "anthropic"),
    ("gemini", "gcp.gemini"),
    ("mistral", "mistral_ai"),
    ("mixtral", "mistral_ai"),
    ("codestral", "mistral_ai"),
    ("command", "cohere"),
    ("deepseek", "deepseek"),
    ("grok", "x_ai"),
)
_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


# How far back the periodic retry looks, and how many runs one round sends at most.
RETRY_WINDOW = timedelta(hours=1)
RETRY_BATCH = 200


class ExportFailed(RuntimeError):
    """The collector did not take the spans (they are sent again at the run's next stop)."""


def enabled() -> bool:
    return bool(settings.STEWARD_OTLP_ENDPOINT)


# --- the signal receiver and the export thread ---------------------------------------------


def on_run_stopped(sender: Any, run_id: uuid.UUID, status: str, **kwargs: Any) -> None:
    """`run_stopped` receiver: queue the run for export; returns at once."""
    if not enabled():
        return
    _exports().submit(run_id)


def unexported_runs(now: datetime | None = None, limit: int = RETRY_BATCH) -> list[uuid.UUID]:
    """Runs that succeeded or failed within RETRY_WINDOW whose final export has not gone out
    (the collector was down at their last stop), oldest first."""

    since = (now or timezone.now()) - RETRY_WINDOW
    runs = (
        Run.objects.filter(finished_at__gte=since, status__in=[Run.Status.SUCCEEDED, Run.Status.FAILED])
        .annotate(exported_final=KT(f"metadata__{MARK_KEY}__final"))
        # A run never exported has no mark: NULL, which a plain exclude() would drop too.
        .filter(Q(exported_final__isnull=True) | ~Q(exported_final="true"))
        .order_by("finished_at")
    )
    return list(runs.values_list("id", flat=True)[:limit])


def retry_unexported(now: datetime | None = None) -> dict[str, int]:
    """Send what recently finished runs still owe the collector; stops at the first refusal (the
    collector is still down: the next round tries again). Returns {"runs", "spans", "failed"}."""
    figures = {"runs": 0, "spans": 0, "failed": 0}
    if not enabled():
        return figures
    for run_id in unexported_runs(now):
        try:
            sent = export_run(run_id)
        except Exception as exc:
            log.warning("run %s: OpenTelemetry export failed again: %s", run_id, exc)
            figures["failed"] += 1
            break
        figures["runs"] += 1
        figures["spans"] += sent
    return figures


def flush(timeout: float = 30.0) -> bool:
    """Wait until this process has sent (or given up on) every queued run; False on timeout."""
    with _thread_lock:
        exports = _thread if _thread is not None and _thread.pid == os.getpid() else None
    return exports.wait_idle(timeout) if exports is not None else True


class _ExportThread:
    """One daemon thread per process that exports queued runs one after another, in order."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._queue: queue.Queue[uuid.UUID] = queue.Queue(maxsize=MAX_PENDING)
        self._thread = threading.Thread(target=self._loop, name="steward-otel-export", daemon=True)
        self._thread.start()

    def submit(self, run_id: uuid.UUID) -> None:
        try:
            self._queue.put_nowait(run_id)
        except queue.Full:
            log.warning("run %s: not exported to OpenTelemetry: %d runs are already waiting", run_id, MAX_PENDING)

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0 or not self._queue.all_tasks_done.wait(left):
                    return False
        return True

    def _loop(self) -> None:

        while True:
            run_id = self._queue.get()
            try:
                export_run(run_id)
            except ImportError as exc:
                log.warning("run %s: OpenTelemetry export failed: %s (pip install 'steward[otel]')", run_id, exc)
            except Exception as exc:
                log.warning("run %s: OpenTelemetry export failed: %s", run_id, exc)
            finally:
                # This thread's own connection: nothing may stay open between exports.
                connections.close_all()
                self._queue.task_done()


_thread: _ExportThread | None = None
_thread_lock = threading.Lock()


def _exports() -> _ExportThread:
    global _thread
    with _thread_lock:
        # A forked child (a Celery worker process) has the object but not the thread.
        if _thread is None or _thread.pid != os.getpid():
            _thread = _ExportThread()
        return _thread


# --- export ----------------------------------------------------------------------------------


def export_run(run_id: uuid.UUID | str) -> int:
    """Send the run's spans recorded since its last export; returns how many spans went out.

    Raises:
        ExportFailed: the collector refused them or did not answer; the claim is given back.
    """
    claimed = _claim(uuid.UUID(str(run_id)))
    if claimed is None:
        return 0
    run, previous, mark = claimed
    try:
        spans = _spans_of(run, previous, mark)
        otel_spans = build_spans(run, spans, after_seq=_after(previous), capture_content=settings.STEWARD_OTLP_CAPTURE_CONTENT)
        _send(otel_spans)
    except BaseException:
        _give_back(run.id, previous, mark)
        raise
    return len(otel_spans)


def _after(mark: dict[str, Any] | None) -> int:
    return int(mark["seq"]) if mark else -1


def _mark_of(run: Run) -> dict[str, Any] | None:
    mark = (run.metadata or {}).get(MARK_KEY)
    # A run created with another run's metadata (a copy) must not inherit its progress.
    if isinstance(mark, dict) and mark.get("run") == str(run.id):
        return mark
    return None


def _claim(run_id: uuid.UUID) -> tuple[Run, dict[str, Any] | None, dict[str, Any]] | None:
    """Move the run's mark past its newest span; None when there is nothing new to send.

    A conditional update on the whole metadata: two exports of one run never both win, and a
    concurrent change to another key is never overwritten (we read again and retry).
    """

    for _ in range(5):
        run = Run.objects.select_related("agent").filter(id=run_id).first()
        if run is None:
            return None
        previous = _mark_of(run)
        after = _after(previous)
        newest = Span.objects.filter(run_id=run.id, seq__gt=after).aggregate(newest=Max("seq"))["newest"]
        final = run.is_finished
        # A run that ends with no new span still sends its invoke_agent span (with the error).
        if newest is None and (not final or (previous or {}).get("final")):
            return None
        mark = {"run": str(run.id), "seq": after if newest is None else newest, "final": final}
        metadata = {**(run.metadata or {}), MARK_KEY: mark}
        if run.save_metadata_if_unchanged(metadata):
            return run, previous, mark
    log.warning("run %s: OpenTelemetry export skipped: its metadata kept changing", run_id)
    return None


def _give_back(run_id: uuid.UUID, previous: dict[str, Any] | None, mark: dict[str, Any]) -> None:
    """Undo a claim whose spans did not go out, unless a later export moved the mark since."""

    for _ in range(5):
        run = Run.objects.filter(id=run_id).first()
        if run is None or (run.metadata or {}).get(MARK_KEY) != mark:
            return
        metadata = {k: v for k, v in run.metadata.items() if k != MARK_KEY}
        if previous is not None:
            metadata[MARK_KEY] = previous
        if run.save_metadata_if_unchanged(metadata):
            return


def _spans_of(run: Run, previous: dict[str, Any] | None, mark: dict[str, Any]) -> list[Span]:

    fields = ["id", "parent_id", "seq", "kind", "name", "status", "started_at", "latency_ms", "error",
              "tokens_in", "tokens_out", "cost", "model", "step"]
    if settings.STEWARD_OTLP_CAPTURE_CONTENT:
        fields += ["input", "output"]
    spans = Span.objects.filter(run_id=run.id, seq__gt=_after(previous), seq__lte=mark["seq"]).only(*fields)
    return list(spans.annotate(tool_call_id=KT("output__tool_call_id")).order_by("seq"))


_exporter_cache: tuple[tuple[Any, ...], Any] | None = None
_exporter_lock = threading.Lock()


def _sdk() -> Any:
    # Loaded here: OpenTelemetry is an optional extra, needed only once something is exported.
    return importlib.import_module("traces.inspection.otel_sdk")


def _exporter() -> Any:
    """The OTLP/HTTP exporter for the current settings (one per process, rebuilt when they change)."""
    global _exporter_cache
    OTLPSpanExporter = _sdk().OTLPSpanExporter
    key = (settings.STEWARD_OTLP_ENDPOINT, settings.STEWARD_OTLP_HEADERS, settings.STEWARD_OTLP_TIMEOUT)
    with _exporter_lock:
        if _exporter_cache is None or _exporter_cache[0] != key:
            if _exporter_cache is not None:
                _exporter_cache[1].shutdown()
            exporter = OTLPSpanExporter(
                endpoint=traces_url(settings.STEWARD_OTLP_ENDPOINT),
                headers=parse_headers(settings.STEWARD_OTLP_HEADERS),
                timeout=settings.STEWARD_OTLP_TIMEOUT,
            )
            _exporter_cache = (key, exporter)
        return _exporter_cache[1]


def traces_url(endpoint: str) -> str:
    """The endpoint as given, or with OTLP's `/v1/traces` when it names only the collector."""
    if urlparse(endpoint).path in ("", "/"):
        return endpoint.rstrip("/") + "/v1/traces"
    return endpoint


def _send(spans: Sequence[ReadableSpan]) -> None:
    SpanExportResult = _sdk().SpanExportResult
    exporter = _exporter()
    for start in range(0, len(spans), SPANS_PER_REQUEST):
        result = exporter.export(spans[start : start + SPANS_PER_REQUEST])
        if result is not SpanExportResult.SUCCESS:
            raise ExportFailed(f"the collector at {settings.STEWARD_OTLP_ENDPOINT} did not take the spans")


def parse_headers(raw: str) -> dict[str, str]:
    """`key=value,key2=value2` (values URL-encoded), as OTEL_EXPORTER_OTLP_HEADERS has them."""
    headers: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"STEWARD_OTLP_HEADERS: {item.strip()!r} is not key=value")
        headers[unquote(key.strip()).lower()] = unquote(value.strip())
    return headers


# --- building the spans ------------------------------------------------------------------------


def trace_id_of(run: Run) -> int:
    return run.root_id.int


def _span_id(*parts: str) -> int:
    digest = hashlib.blake2b("|".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") or 1


def span_id_of(span_uuid: uuid.UUID) -> int:
    return _span_id("span", str(span_uuid))


def invoke_span_id(run_id: uuid.UUID, after_seq: int = -1) -> int:
    """The invoke_agent span of the export that starts after `after_seq` (-1: the run's first)."""
    return _span_id("invoke_agent", str(run_id), str(after_seq))


def _nanos(when: datetime) -> int:
    return ((when - _EPOCH) // timedelta(microseconds=1)) * 1000


def provider_of(model: str) -> str:
    name = model.lower().rsplit("/", 1)[-1]
    for prefix, provider in _PROVIDER_PREFIXES:
        if name.startswith(prefix):
            return provider
    return "_OTHER"


def _redact(value: Any) -> Any:

    return redact(value)


def _error_parts(error: str) -> tuple[str, str]:
    """(error.type, message) from a traceback or an "Type: message" line."""
    lines = [line for line in error.strip().splitlines() if line.strip()]
    message = lines[-1].strip() if lines else "error"
    kind, sep, _ = message.partition(":")
    is_name = sep and kind and all(part.isidentifier() for part in kind.split("."))
    return (kind if is_name else "_OTHER"), str(_redact(message))[:1000]


def _json(value: Any) -> str:
    text = json.dumps(_redact(value), ensure_ascii=False, default=str)
    # Collectors refuse huge requests; a long conversation is cut (no longer valid JSON then).
    return text if len(text) <= MAX_CONTENT_CHARS else text[:MAX_CONTENT_CHARS] + "...[truncated]"


def _parts_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    content = message.get("content")
    if isinstance(content, str) and content:
        parts.append({"type": "text", "content": content})
    elif isinstance(content, list):
        for item in content:
            text = item.get("text") if isinstance(item, dict) else item
            if isinstance(text, str) and text:
                parts.append({"type": "text", "content": text})
    for call in message.get("tool_calls") or []:
        parts.append({"type": "tool_call", "id": call.get("id"), "name": call.get("name"), "arguments": call.get("args")})
    if message.get("type") == "tool":
        parts = [{"type": "tool_call_response", "id": message.get("tool_call_id"), "result": content}]
    return parts


def chat_messages(value: Any) -> list[dict[str, Any]]:
    """Recorded messages (console.kernel.serialize) in the GenAI conventions' message shape."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    messages: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, list):
            messages.extend(chat_messages(item))
        elif isinstance(item, dict) and "type" in item:
            messages.append({"role": _ROLES.get(str(item["type"]), str(item["type"])), "parts": _parts_of(item)})
        else:
            messages.append({"role": "user", "parts": [{"type": "text", "content": str(item)}]})
    return messages


def _span_attributes(run: Run, span: Span, capture_content: bool) -> tuple[str, Any, dict[str, Any]]:
    """(name, kind, attributes) of one recorded span."""
    SpanKind = _sdk().SpanKind
    attributes: dict[str, Any] = {
        "steward.run_id": str(run.id),
        "steward.span_id": str(span.id),
        "steward.span.kind": span.kind,
        "steward.span.status": span.status,
    }
    if span.step is not None:
        attributes["steward.step"] = span.step
    if span.cost:
        attributes["steward.cost_usd"] = span.cost
    kind = SpanKind.INTERNAL
    if span.kind == "model":
        model = span.model or span.name
        provider = provider_of(model)
        name = f"chat {model}"
        kind = SpanKind.CLIENT
        attributes.update(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": provider,
                "gen_ai.system": provider,
                "gen_ai.request.model": model,
                "gen_ai.response.model": model,
                "gen_ai.usage.input_tokens": span.tokens_in,
                "gen_ai.usage.output_tokens": span.tokens_out,
                "gen_ai.conversation.id": run.thread_id,
                "gen_ai.agent.name": run.agent.key,
            }
        )
        if capture_content:
            attributes["gen_ai.input.messages"] = _json(chat_messages(span.input))
            if span.output is not None:
                attributes["gen_ai.output.messages"] = _json(chat_messages(span.output))
    elif span.kind == "tool":
        name = f"execute_tool {span.name}"
        attributes.update(
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": span.name,
                "gen_ai.tool.type": "function",
                "gen_ai.agent.name": run.agent.key,
            }
        )
        # Read from the tool message's JSON by the query (traces.inspection.otel._spans_of), content or not.
        call_id = getattr(span, "tool_call_id", None)
        if call_id:
            attributes["gen_ai.tool.call.id"] = str(call_id)
        if capture_content:
            attributes["gen_ai.tool.call.arguments"] = _json(span.input)
            if span.output is not None:
                result = span.output.get("content") if isinstance(span.output, dict) else span.output
                attributes["gen_ai.tool.call.result"] = _json(result)
    elif span.kind == "gate":
        name = f"approval {span.name}"
        attributes["steward.gate.action"] = span.name
    else:
        name = span.name
        attributes["steward.node"] = span.name
    if capture_content and span.kind in ("node", "gate"):
        attributes["steward.input"] = _json(span.input)
        if span.output is not None:
            attributes["steward.output"] = _json(span.output)
    return name, kind, attributes


def build_spans(run: Run, spans: Iterable[Span], after_seq: int = -1, capture_content: bool = False) -> list[ReadableSpan]:
    """The OpenTelemetry spans of one export: its invoke_agent span, then the recorded spans."""
    sdk = _sdk()

    spans = list(spans)
    trace_id = trace_id_of(run)
    resource = sdk.Resource.create({"service.name": settings.STEWARD_OTLP_SERVICE_NAME, "service.version": _version()})
    scope = sdk.InstrumentationScope("steward.traces", _version())

    def context(span_id: int) -> SpanContext:
        return sdk.SpanContext(trace_id, span_id, is_remote=False, trace_flags=sdk.TraceFlags(sdk.TraceFlags.SAMPLED))

    root_id = invoke_span_id(run.id, after_seq)
    if after_seq >= 0:
        root_parent: int | None = invoke_span_id(run.id)
    elif run.parent_run_id is not None:
        root_parent = invoke_span_id(run.parent_run_id)
    else:
        root_parent = None

    built: list[ReadableSpan] = []
    starts: list[int] = []
    ends: list[int] = []
    for span in spans:
        name, kind, attributes = _span_attributes(run, span, capture_content)
        start = _nanos(span.started_at)
        end = start + int(span.latency_ms * 1_000_000)
        starts.append(start)
        ends.append(end)
        status = sdk.Status(sdk.StatusCode.UNSET)
        if span.status == "error":
            error_type, message = _error_parts(span.error)
            attributes["error.type"] = error_type
            status = sdk.Status(sdk.StatusCode.ERROR, message)
        parent = span_id_of(span.parent_id) if span.parent_id else root_id
        built.append(
            sdk.ReadableSpan(
                name=name,
                context=context(span_id_of(span.id)),
                parent=context(parent),
                resource=resource,
                attributes=attributes,
                kind=kind,
                status=status,
                start_time=start,
                end_time=end,
                instrumentation_scope=scope,
            )
        )

    root_attributes: dict[str, Any] = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": run.agent.key,
        "gen_ai.conversation.id": run.thread_id,
        "gen_ai.usage.input_tokens": sum(s.tokens_in for s in spans),
        "gen_ai.usage.output_tokens": sum(s.tokens_out for s in spans),
        "steward.run_id": str(run.id),
        "steward.root_run_id": str(run.root_id),
        "steward.run.status": run.status,
        "steward.span.kind": "run",
        "steward.cost_usd": round(sum(s.cost for s in spans), 8),
    }
    if run.agent.description:
        root_attributes["gen_ai.agent.description"] = run.agent.description
    if run.parent_run_id:
        root_attributes["steward.parent_run_id"] = str(run.parent_run_id)
    root_status = sdk.Status(sdk.StatusCode.UNSET)
    if run.status == "failed":
        error_type, message = _error_parts(run.error or "the run failed")
        root_attributes["error.type"] = error_type
        root_status = sdk.Status(sdk.StatusCode.ERROR, message)
    now = timezone.now()
    root_start = min(starts) if starts else _nanos(run.started_at or run.created_at)
    root_end = max(ends) if ends else _nanos(run.finished_at or now)
    root = sdk.ReadableSpan(
        name=f"invoke_agent {run.agent.key}",
        context=context(root_id),
        parent=context(root_parent) if root_parent is not None else None,
        resource=resource,
        attributes=root_attributes,
        kind=sdk.SpanKind.INTERNAL,
        status=root_status,
        start_time=root_start,
        end_time=max(root_end, root_start),
        instrumentation_scope=scope,
    )
    return [root, *built]


_steward_version: str | None = None


def _version() -> str:
    global _steward_version
    if _steward_version is None:
        try:
            _steward_version = version("steward")
        except PackageNotFoundError:
            _steward_version = "0"
    return _steward_version


# --- configuration check -------------------------------------------------------------------


def check_otel_installed(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """`manage.py check`: an endpoint is set but the extra is not installed."""
    if not enabled():
        return []
    if importlib.util.find_spec("opentelemetry") is None or any(
        importlib.util.find_spec(name) is None
        for name in ("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http")
    ):
        return [
            checks.Warning(
                "STEWARD_OTLP_ENDPOINT is set but the OpenTelemetry packages are not installed: no trace is exported.",
                hint="pip install 'steward[otel]', or unset STEWARD_OTLP_ENDPOINT.",
                id="steward.W001",
            )
        ]
    try:
        parse_headers(settings.STEWARD_OTLP_HEADERS)
    except ValueError as exc:
        return [checks.Error(str(exc), hint="key=value pairs separated by commas", id="steward.E001")]
    return []
