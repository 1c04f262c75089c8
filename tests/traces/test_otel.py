"""OpenTelemetry export: runs reach a local OTLP/HTTP receiver as traces with the GenAI conventions."""

from __future__ import annotations

import json
import logging
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from agents.engine import runtime
from agents.engine.models import Run
from agents.engine.services import start_run
from approvals.models import ApprovalRequest
from approvals.services import decide
from tests.support.receivers import OtlpReceiver, ReceivedSpan
from traces.inspection import otel
from traces.recording.models import Span

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SECRET = "sk-proj-" + "A1b2C3d4E5f6G7h8J9k0L1m2"


@pytest.fixture
def collector() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    try:
        yield receiver
    finally:
        receiver.close()


@pytest.fixture
def otlp(settings: Any, collector: OtlpReceiver) -> OtlpReceiver:
    """Export switched on, to the local receiver, with a header the collector wants."""
    settings.STEWARD_OTLP_ENDPOINT = collector.url
    settings.STEWARD_OTLP_HEADERS = "Authorization=Bearer%20collector-secret,x-tenant=steward-tests"
    settings.STEWARD_OTLP_SERVICE_NAME = "steward-under-test"
    settings.STEWARD_OTLP_CAPTURE_CONTENT = False
    return collector


def _exported(run: Run) -> None:
    """Wait for this process's export thread to finish what the run's stop queued."""
    assert otel.flush(timeout=30), "the export thread did not finish"


def _by_name(spans: list[ReceivedSpan]) -> dict[str, ReceivedSpan]:
    names = [s.name for s in spans]
    assert len(names) == len(set(names)), names
    return {s.name: s for s in spans}


def test_a_run_is_one_trace_with_genai_spans(engineer: Any, otlp: OtlpReceiver) -> None:
    """The `known` run (plan → chat, act → execute_tool, finish) arrives as one trace whose ids,
    parents, names, times, GenAI attributes and token counts are the database's, without content."""
    run = start_run("known", {"topic": "darjeeling-42"}, engineer)
    assert runtime.execute(run.id) == "succeeded"
    _exported(run)

    received = otlp.received_spans()
    db_spans = {s.id: s for s in Span.objects.filter(run=run)}
    assert len(received) == len(db_spans) + 1  # + the invoke_agent span
    assert {s.trace_id for s in received} == {run.id.hex}
    spans = _by_name(received)
    assert set(spans) == {"invoke_agent known", "plan", "chat scripted-demo", "act", "execute_tool measure", "finish"}

    root = spans["invoke_agent known"]
    assert root.parent_span_id == "" and root.kind == "SPAN_KIND_INTERNAL" and root.status_code == "STATUS_CODE_UNSET"
    assert root.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert root.attributes["gen_ai.agent.name"] == "known"
    assert root.attributes["gen_ai.conversation.id"] == run.thread_id
    assert root.attributes["steward.run_id"] == str(run.id)
    assert root.attributes["steward.run.status"] == "succeeded"
    assert root.resource["service.name"] == "steward-under-test" and root.scope == "steward.traces"

    # Parents: nodes under the run, the model call under plan, the tool call under act.
    for node in ("plan", "act", "finish"):
        assert spans[node].parent_span_id == root.span_id
        assert spans[node].attributes["steward.span.kind"] == "node"
    assert spans["chat scripted-demo"].parent_span_id == spans["plan"].span_id
    assert spans["execute_tool measure"].parent_span_id == spans["act"].span_id

    # Every recorded span went out once, under the id derived from its UUID, with its own times.
    by_uuid = {uuid.UUID(s.attributes["steward.span_id"]): s for s in received if "steward.span_id" in s.attributes}
    assert set(by_uuid) == set(db_spans)
    for span_uuid, sent in by_uuid.items():
        stored = db_spans[span_uuid]
        assert sent.span_id == f"{otel.span_id_of(span_uuid):016x}"
        assert sent.start_ns == otel._nanos(stored.started_at)
        assert sent.end_ns - sent.start_ns == int(stored.latency_ms * 1_000_000)
        assert sent.attributes["steward.run_id"] == str(run.id)
    assert root.start_ns == min(s.start_ns for s in by_uuid.values())
    assert root.end_ns == max(s.end_ns for s in by_uuid.values())

    chat = spans["chat scripted-demo"]
    model_span = Span.objects.get(run=run, kind="model")
    assert chat.kind == "SPAN_KIND_CLIENT"
    assert chat.attributes["gen_ai.operation.name"] == "chat"
    assert chat.attributes["gen_ai.provider.name"] == chat.attributes["gen_ai.system"] == "steward.scripted"
    assert chat.attributes["gen_ai.request.model"] == chat.attributes["gen_ai.response.model"] == "scripted-demo"
    assert chat.attributes["gen_ai.usage.input_tokens"] == model_span.tokens_in > 0
    assert chat.attributes["gen_ai.usage.output_tokens"] == model_span.tokens_out > 0
    assert chat.attributes["steward.cost_usd"] == pytest.approx(model_span.cost) and model_span.cost > 0
    stored_run = Run.objects.get(id=run.id)
    assert root.attributes["gen_ai.usage.input_tokens"] == stored_run.tokens_in
    assert root.attributes["gen_ai.usage.output_tokens"] == stored_run.tokens_out
    assert root.attributes["steward.cost_usd"] == pytest.approx(stored_run.cost)

    tool = spans["execute_tool measure"]
    assert tool.kind == "SPAN_KIND_INTERNAL"
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool.attributes["gen_ai.tool.name"] == "measure"
    assert tool.attributes["gen_ai.tool.call.id"] == "call_measure"

    # No content unless asked for.
    content_keys = {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.tool.call.arguments",
                    "gen_ai.tool.call.result", "steward.input", "steward.output"}
    assert not any(content_keys & set(s.attributes) for s in received)
    assert "darjeeling" not in json.dumps([s.attributes for s in received])

    # The collector got the configured headers; the run records what was exported.
    assert {(r["authorization"], r["x-tenant"]) for r in otlp.requests} == {("Bearer collector-secret", "steward-tests")}
    assert stored_run.metadata[otel.MARK_KEY] == {"run": str(run.id), "seq": max(s.seq for s in db_spans.values()), "final": True}


def test_a_failed_run_exports_error_statuses(engineer: Any, otlp: OtlpReceiver) -> None:
    """A tool that raises: the tool span, its node and the run are errors with the message and type."""
    run = start_run("known", {"topic": "explode"}, engineer)
    assert runtime.execute(run.id) == "failed"
    _exported(run)

    spans = _by_name(otlp.received_spans())
    tool = spans["execute_tool measure"]
    assert tool.status_code == "STATUS_CODE_ERROR"
    assert tool.status_message == "ValueError: cannot measure explode"
    assert tool.attributes["error.type"] == "ValueError"
    assert spans["act"].status_code == "STATUS_CODE_ERROR"
    assert spans["plan"].status_code == "STATUS_CODE_UNSET" and "error.type" not in spans["plan"].attributes
    root = spans["invoke_agent known"]
    assert root.status_code == "STATUS_CODE_ERROR" and "cannot measure explode" in root.status_message
    assert root.attributes["error.type"] == "ValueError"
    assert root.attributes["steward.run.status"] == "failed"
    assert "finish" not in spans


def test_a_resumed_run_sends_only_its_new_spans_under_its_first_export(
    engineer: Any, reviewer: Any, otlp: OtlpReceiver
) -> None:
    """A refund over the limit waits for approval (first export), then resumes and succeeds (second
    export): no span is sent twice, both exports are in one trace, the second under the first."""
    run = start_run("refund", {"order_id": f"O-{uuid.uuid4().hex[:8]}", "amount": 250, "reason": "broken"}, engineer)
    assert runtime.execute(run.id) == "waiting"
    _exported(run)
    first = otlp.received_spans()
    assert {s.attributes.get("steward.span.status") for s in first if s.name == "approval issue_refund"} == {"paused"}
    waiting_root = next(s for s in first if s.name == "invoke_agent refund")
    assert waiting_root.attributes["steward.run.status"] == "waiting" and waiting_root.parent_span_id == ""

    request = ApprovalRequest.objects.get(run_id=run.id, status="pending")
    decide(request.id, reviewer, "approve")
    assert runtime.execute(run.id) == "succeeded"
    _exported(run)
    second = otlp.received_spans()[len(first):]

    assert {s.trace_id for s in first + second} == {run.id.hex}
    sent_ids = [s.span_id for s in first + second]
    assert len(sent_ids) == len(set(sent_ids))
    db_ids = {f"{otel.span_id_of(i):016x}" for i in Span.objects.filter(run=run).values_list("id", flat=True)}
    assert {s.span_id for s in first + second if s.name != "invoke_agent refund"} == db_ids
    resumed_root = next(s for s in second if s.name == "invoke_agent refund")
    assert resumed_root.parent_span_id == waiting_root.span_id
    assert resumed_root.attributes["steward.run.status"] == "succeeded"
    assert {s.attributes.get("steward.span.status") for s in second if s.name == "approval issue_refund"} == {"ok"}
    assert any(s.name == "execute_tool issue_refund" for s in second)
    # The second export's spans hang under it, or under spans of their own export.
    second_ids = {s.span_id for s in second}
    assert all(s.parent_span_id in second_ids for s in second if s is not resumed_root)

    # A third stop signal with nothing new sends nothing.
    otel.on_run_stopped(None, run_id=run.id, status="succeeded")
    _exported(run)
    assert len(otlp.received_spans()) == len(first) + len(second)


def test_a_replay_joins_its_source_trace(engineer: Any, otlp: OtlpReceiver) -> None:
    """A replay's trace id is its root run's; its invoke_agent span hangs under the source's."""
    from traces.inspection.replay import replay

    original = start_run("known", {"topic": "tea"}, engineer)
    assert runtime.execute(original.id) == "succeeded"
    copy = replay(Run.objects.get(id=original.id), engineer, mode="recorded")
    assert runtime.execute(copy.id) == "succeeded"
    _exported(copy)

    roots = [s for s in otlp.received_spans() if s.name == "invoke_agent known"]
    assert [r.attributes["steward.run_id"] for r in roots] == [str(original.id), str(copy.id)]
    assert {s.trace_id for s in otlp.received_spans()} == {original.id.hex}
    assert roots[1].parent_span_id == roots[0].span_id
    assert roots[1].attributes["steward.parent_run_id"] == str(original.id)


def test_content_is_sent_redacted_only_when_asked(engineer: Any, otlp: OtlpReceiver, settings: Any) -> None:
    """STEWARD_OTLP_CAPTURE_CONTENT: messages, tool arguments and results go out in the GenAI
    message shape, with the API key in the input replaced by its redaction marker."""
    settings.STEWARD_OTLP_CAPTURE_CONTENT = True
    run = start_run("known", {"topic": f"rotate {SECRET} today"}, engineer)
    assert runtime.execute(run.id) == "succeeded"
    _exported(run)

    received = otlp.received_spans()
    assert SECRET not in json.dumps([s.attributes for s in received])
    spans = {s.name: s for s in received}
    chat = spans["chat scripted-demo"]
    assert json.loads(chat.attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "rotate [redacted:openai_key] today"}]}
    ]
    assert json.loads(chat.attributes["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "call_measure", "name": "measure",
                 "arguments": {"topic": "rotate [redacted:openai_key] today"}}
            ],
        }
    ]
    tool = spans["execute_tool measure"]
    assert json.loads(tool.attributes["gen_ai.tool.call.arguments"]) == {"topic": "rotate [redacted:openai_key] today"}
    assert "[redacted:openai_key]" in json.loads(tool.attributes["gen_ai.tool.call.result"])
    assert "[redacted:openai_key]" in spans["plan"].attributes["steward.input"]


def test_nothing_is_queued_or_sent_while_export_is_off(engineer: Any, collector: OtlpReceiver, settings: Any) -> None:
    """With the endpoint empty a run queues nothing and marks nothing. Switched on afterwards, the
    next run's trace is the only one the collector gets (the export thread works in order, so the
    first run's would have come before it)."""
    settings.STEWARD_OTLP_ENDPOINT = ""
    quiet = start_run("known", {"topic": "tea"}, engineer)
    assert runtime.execute(quiet.id) == "succeeded"
    assert otel.flush(timeout=30)
    assert otel.MARK_KEY not in Run.objects.get(id=quiet.id).metadata
    assert collector.requests == []

    settings.STEWARD_OTLP_ENDPOINT = collector.url
    loud = start_run("known", {"topic": "tea"}, engineer)
    assert runtime.execute(loud.id) == "succeeded"
    _exported(loud)
    assert {s.trace_id for s in collector.received_spans()} == {loud.id.hex}
    assert otel.MARK_KEY not in Run.objects.get(id=quiet.id).metadata


def test_a_refusing_collector_neither_fails_the_run_nor_loses_its_spans(
    engineer: Any, otlp: OtlpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    """The collector answers 400: the run still succeeds, a warning names it, and the claim is
    given back, so the spans go out once the collector takes them."""
    otlp.status = 400
    run = start_run("known", {"topic": "tea"}, engineer)
    with caplog.at_level(logging.WARNING, logger="traces.inspection.otel"):
        assert runtime.execute(run.id) == "succeeded"
        _exported(run)
    assert any(f"run {run.id}: OpenTelemetry export failed" in r.getMessage() for r in caplog.records)
    assert otlp.received_spans() == [] and len(otlp.requests) == 1
    assert otel.MARK_KEY not in Run.objects.get(id=run.id).metadata

    otlp.status = 200
    assert otel.export_run(run.id) == Span.objects.filter(run=run).count() + 1
    assert {s.trace_id for s in otlp.received_spans()} == {run.id.hex}
    assert otel.export_run(run.id) == 0


def test_the_periodic_retry_sends_what_a_finished_run_still_owes(engineer: Any, otlp: OtlpReceiver) -> None:
    """The collector was down at the run's last stop: the beat task sends it once the collector is
    back, stops at the first refusal while it is not, never sends a run twice, and leaves runs
    that finished before the window and waiting runs alone."""
    from datetime import timedelta

    from django.utils import timezone

    from traces.tasks import retry_otel_exports

    otlp.status = 400  # refused outright (a 503 is retried inside the exporter for seconds)
    first = start_run("known", {"topic": "tea"}, engineer)
    second = start_run("known", {"topic": "coffee"}, engineer)
    old = start_run("known", {"topic": "old news"}, engineer)
    for run in (first, second, old):
        assert runtime.execute(run.id) == "succeeded"
    _exported(first)
    Run.objects.filter(id=old.id).update(finished_at=timezone.now() - otel.RETRY_WINDOW - timedelta(minutes=1))
    assert otel.unexported_runs() == [first.id, second.id]
    tries = len(otlp.requests)
    assert retry_otel_exports() == {"runs": 0, "spans": 0, "failed": 1}
    assert len(otlp.requests) == tries + 1, "a refused round stops at its first run"

    otlp.status = 200
    figures = retry_otel_exports()
    assert figures["runs"] == 2 and figures["failed"] == 0
    assert {s.trace_id for s in otlp.received_spans()} == {first.id.hex, second.id.hex}
    assert figures["spans"] == len(otlp.received_spans())
    assert otel.unexported_runs() == [] and retry_otel_exports() == {"runs": 0, "spans": 0, "failed": 0}


def test_the_periodic_retry_does_nothing_while_export_is_off(
    engineer: Any, collector: OtlpReceiver, settings: Any
) -> None:
    """Off: the run is owed (it was never sent), yet nothing goes out; switched on, it does."""
    settings.STEWARD_OTLP_ENDPOINT = ""
    run = start_run("known", {"topic": "tea"}, engineer)
    assert runtime.execute(run.id) == "succeeded"
    assert otel.retry_unexported() == {"runs": 0, "spans": 0, "failed": 0}
    assert collector.requests == []
    settings.STEWARD_OTLP_ENDPOINT = collector.url
    assert otel.retry_unexported()["runs"] == 1
    assert {s.trace_id for s in collector.received_spans()} == {run.id.hex}


def test_a_run_that_fails_before_any_span_still_sends_its_run(engineer: Any, otlp: OtlpReceiver) -> None:
    """An agent no worker knows: the run fails with no span, and its invoke_agent span carries the
    error; a later stop signal for the finished run sends nothing again."""
    from agents.engine.models import Agent

    ghost = Agent.objects.create(key="ghost", name="Ghost")
    run = Run.objects.create(agent=ghost, thread_id="ghost-thread", input={})
    assert runtime.execute(run.id) == "failed"
    _exported(run)
    (root,) = otlp.received_spans()
    assert root.name == "invoke_agent ghost" and root.parent_span_id == ""
    assert root.status_code == "STATUS_CODE_ERROR" and "not registered" in root.status_message
    assert root.attributes["gen_ai.usage.input_tokens"] == 0
    assert root.end_ns >= root.start_ns > 0

    otel.on_run_stopped(None, run_id=run.id, status="failed")
    _exported(run)
    assert len(otlp.received_spans()) == 1


@pytest.fixture
def without_opentelemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every `import opentelemetry...` fail, as if the extra were not installed."""
    # Steward's module of OpenTelemetry names too: a process without the extra never loaded it.
    loaded = [m for m in sys.modules if m == "opentelemetry" or m.startswith("opentelemetry.")]
    for name in loaded + [m for m in sys.modules if m == "traces.inspection.otel_sdk"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    # The exporter cached by an earlier test must not stand in for the missing packages.
    monkeypatch.setattr(otel, "_exporter_cache", None)


def test_steward_runs_without_the_packages(
    engineer: Any, settings: Any, collector: OtlpReceiver, without_opentelemetry: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Off: runs work and `check` is quiet. On without the packages: `check` warns, and runs
    still succeed (the export fails with a warning and keeps nothing claimed)."""
    settings.STEWARD_OTLP_ENDPOINT = ""
    assert otel.check_otel_installed() == []
    run = start_run("known", {"topic": "tea"}, engineer)
    assert runtime.execute(run.id) == "succeeded"

    settings.STEWARD_OTLP_ENDPOINT = collector.url
    assert [m.id for m in otel.check_otel_installed()] == ["steward.W001"]
    run = start_run("known", {"topic": "tea"}, engineer)
    with caplog.at_level(logging.WARNING, logger="traces.inspection.otel"):
        assert runtime.execute(run.id) == "succeeded"
        _exported(run)
    assert any(f"run {run.id}: OpenTelemetry export failed" in r.getMessage() for r in caplog.records)
    assert otel.MARK_KEY not in Run.objects.get(id=run.id).metadata
    assert collector.requests == []
