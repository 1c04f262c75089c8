"""A local HTTP receiver for what Steward sends out (webhooks, OTLP traces): it records every POST
and answers with scripted status codes."""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class HttpReceiver:
    """Listens on `host` (127.0.0.1 unless told; "::1" for IPv6); records each POST as {"path",
    "headers", "body"} in `received` and answers the next status of `script`, then `default` once
    the script runs out. A 3xx points at `location`; any other failure answers `failure_body`.
    With a server-side `tls` context it speaks HTTPS."""

    path = "/hooks/steward"

    def __init__(
        self,
        script: list[int] | None = None,
        default: int = 200,
        *,
        host: str = "127.0.0.1",
        location: str = "/elsewhere",
        failure_body: bytes = b"receiver says no",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.script = list(script or [])
        self.default = default
        self.host = host
        self.location = location
        self.failure_body = failure_body
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, payload = receiver._take(self.path, dict(self.headers), body)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        server_class = ThreadingHTTPServer
        if ":" in host:
            server_class = type("ThreadingHTTPServerV6", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6})
        self.server = server_class((host, 0), Handler)
        self.scheme = "https" if tls else "http"
        if tls:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        # Polled often: close() waits for the next poll, half a second at serve_forever's default.
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.path}"

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def _take(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.received.append({"path": path, "headers": headers, "body": body})
            status = self.script.pop(0) if self.script else self.default
        return self.answer(status, path, body)

    def answer(self, status: int, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) of the response to a POST to `path`."""
        headers = {"Content-Type": "text/plain"}
        if 300 <= status < 400:
            headers["Location"] = self.location
        return status, headers, b"ok" if status < 300 else self.failure_body

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class ReceivedSpan:
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: str
    start_ns: int
    end_ns: int
    status_code: str
    status_message: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope: str


def _value(any_value: Any) -> Any:
    which = any_value.WhichOneof("value")
    if which == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in any_value.kvlist_value.values}
    return getattr(any_value, which) if which else None


def _attributes(key_values: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in key_values}


def decode_spans(body: bytes) -> list[ReceivedSpan]:
    """The spans of one OTLP/HTTP ExportTraceServiceRequest."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

    decoded = []
    for resource_spans in ExportTraceServiceRequest.FromString(body).resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                decoded.append(
                    ReceivedSpan(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        name=span.name,
                        kind=Span.SpanKind.Name(span.kind),
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        status_code=Status.StatusCode.Name(span.status.code),
                        status_message=span.status.message,
                        attributes=_attributes(span.attributes),
                        resource=resource,
                        scope=scope_spans.scope.name,
                    )
                )
    return decoded


class OtlpReceiver(HttpReceiver):
    """An OTLP/HTTP trace collector at `/v1/traces`: answers `status` (200 unless a test changes
    it) and keeps the spans of the requests it accepted."""

    path = "/v1/traces"

    def __init__(self) -> None:
        super().__init__()
        self._spans: list[ReceivedSpan] = []

    @property
    def status(self) -> int:
        return self.default

    @status.setter
    def status(self, value: int) -> None:
        self.default = value

    @property
    def requests(self) -> list[dict[str, str]]:
        """The headers of each request to `/v1/traces`, names in lower case."""
        with self._lock:
            sent = [r for r in self.received if r["path"] == self.path]
        return [{k.lower(): v for k, v in r["headers"].items()} for r in sent]

    def received_spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self._spans)

    def answer(self, status: int, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

        if path != self.path:
            return 404, {}, b""
        if status != 200:
            return status, {"Content-Type": "application/x-protobuf"}, b""
        spans = decode_spans(body)
        with self._lock:
            self._spans.extend(spans)
        return 200, {"Content-Type": "application/x-protobuf"}, ExportTraceServiceResponse().SerializeToString()
