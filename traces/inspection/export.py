"""A run's whole trace as one JSON document, and bringing such a document into another Steward.

The document (`format` "steward.trace.v1")::

    {
      "format": "steward.trace.v1",
      "exported_at": "<ISO 8601 time>",
      "source": "<the exporting Steward's STEWARD_BASE_URL>",
      "run": {"id", "agent", "agent_name", "thread_id", "status", "input", "output", "error",
              "error_traceback", "metadata", "graph_fingerprint", "created_by" (a username),
              "parent_run_id", "root_run_id", "created_at", "enqueued_at", "started_at",
              "finished_at", "attempts", "lease_owner", "lease_expires_at",
              "totals": {"steps", "spans", "tokens_in", "tokens_out", "cost", "latency_ms",
                         "active_ms", "wall_ms"}},            # meanings: the Run model's docstring
      "spans": [{"id", "parent_id", "seq", "kind", "name", "status", "started_at", "latency_ms",
                 "input", "output", "error", "tokens_in", "tokens_out", "cost", "model",
                 "checkpoint_id", "step"}, ...],          # in seq order
      "approvals": [{..., "decisions": [...]}, ...]      # the run's approval requests
    }

Secrets are redacted from the whole document (console/kernel/redaction.py); the sealed originals that
recorded replay uses stay in the exporting Steward.

An imported run is a read-only copy: it gets a new id (its spans too, parent links remapped),
keeps its finished status, is never executed, and cannot be cancelled. Its provenance is in
`metadata["imported"]` (source, original id, exported_at, who imported it and when, the original
creator's username and the exported approval requests: approval rows are not created here, as
they would enter this Steward's queues, stats and audit trail).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from pydantic import Field

from agents.engine.models import Agent, Run
from approvals.models import ApprovalRequest, Decision
from console.kernel import audit
from console.kernel.documents import (
    INT32,
    DocumentFormat,
    Moment,
    StrictModel,
    envelope,
    parse_json,
    username,
)
from console.kernel.redaction import redact
from traces.recording.models import Span

__all__ = [
    "FORMAT",
    "TraceV1",
    "export_filename",
    "export_run",
    "import_run",
    "max_import_bytes",
    "parse_trace",
    "validate_trace",
]

FORMAT = "steward.trace.v1"


def max_import_bytes() -> int:
    """The largest trace file the import page accepts (settings.STEWARD_TRACE_IMPORT_MAX_BYTES,
    default 50 MB). A JSON body to the API is held to DATA_UPLOAD_MAX_MEMORY_SIZE instead."""
    return int(getattr(settings, "STEWARD_TRACE_IMPORT_MAX_BYTES", 50 * 1024 * 1024))


def export_filename(run: Run) -> str:
    return f"run-{run.id}.json"


# --- export ---------------------------------------------------------------------------------


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _str(value: Any) -> str | None:
    return str(value) if value is not None else None


def _run_dict(run: Run) -> dict[str, Any]:
    return {
        "id": str(run.id),
        "agent": run.agent.key,
        "agent_name": run.agent.name,
        "thread_id": run.thread_id,
        "status": run.status,
        "input": run.input,
        "output": run.output,
        "error": run.error,
        "error_traceback": run.error_traceback,
        "metadata": run.metadata,
        "graph_fingerprint": run.graph_fingerprint,
        # Version numbers by prompt name (ids mean nothing in another installation).
        "prompt_versions": {
            name: {"version": pin.get("version"), "label": pin.get("label", "")}
            for name, pin in (run.prompt_versions or {}).items()
        },
        "created_by": username(run.created_by),
        "parent_run_id": _str(run.parent_run_id),
        "root_run_id": _str(run.root_run_id),
        "created_at": _time(run.created_at),
        "enqueued_at": _time(run.enqueued_at),
        "started_at": _time(run.started_at),
        "finished_at": _time(run.finished_at),
        "attempts": run.attempts,
        "lease_owner": run.lease_owner,
        "lease_expires_at": _time(run.lease_expires_at),
        "totals": run.totals,
    }


def _span_dict(span: Span) -> dict[str, Any]:
    return {
        "id": str(span.id),
        "parent_id": _str(span.parent_id),
        "seq": span.seq,
        "kind": span.kind,
        "name": span.name,
        "status": span.status,
        "started_at": _time(span.started_at),
        "latency_ms": span.latency_ms,
        "input": span.input,
        "output": span.output,
        "error": span.error,
        "tokens_in": span.tokens_in,
        "tokens_out": span.tokens_out,
        "cost": span.cost,
        "model": span.model,
        "checkpoint_id": span.checkpoint_id,
        "step": span.step,
        "prompt": f"{span.prompt_version.prompt.name}@{span.prompt_version.number}" if span.prompt_version else "",
    }


def _approval_dicts(run: Run) -> list[dict[str, Any]]:

    requests = list(
        ApprovalRequest.objects.filter(run=run)
        .select_related("queue", "requested_by", "decided_by")
        .order_by("created_at", "id")
    )
    if not requests:
        # A run imported here carries the approvals of its export (no rows were made for them).
        imported = run.metadata.get("imported") if isinstance(run.metadata, dict) else None
        approvals = imported.get("approvals") if isinstance(imported, dict) else None
        return list(approvals) if isinstance(approvals, list) else []
    decisions: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for d in Decision.objects.filter(request__in=requests).select_related("user").order_by("created_at", "id"):
        decisions.setdefault(d.request_id, []).append(
            {
                "id": str(d.id),
                "user": username(d.user),
                "decision": d.decision,
                "args": d.args,
                "proposed_args": d.proposed_args,
                "approved_args": d.approved_args,
                "args_diff": d.args_diff,
                "comment": d.comment,
                "reason_code": d.reason_code,
                "automatic_rule": d.automatic_rule,
                "created_at": _time(d.created_at),
                "superseded_at": _time(d.superseded_at),
            }
        )
    return [
        {
            "id": str(r.id),
            "queue": r.queue.name,
            "interrupt_id": r.interrupt_id,
            "requested_by": username(r.requested_by),
            "action": r.action,
            "summary": r.summary,
            "proposed_args": r.proposed_args,
            "args_schema": r.args_schema,
            "tool_call_id": r.tool_call_id,
            "condition": r.condition,
            "status": r.status,
            "approvals": r.approvals,
            "approved_args": r.approved_args,
            "approved_args_hash": r.approved_args_hash,
            "resume_value": r.resume_value,
            "decided_by": username(r.decided_by),
            "decided_at": _time(r.decided_at),
            "decided_automatically_by": r.decided_automatically_by,
            "created_at": _time(r.created_at),
            "due_at": _time(r.due_at),
            "escalation_count": r.escalation_count,
            "last_resume_error": r.last_resume_error,
            "resume_refused_at": _time(r.resume_refused_at),
            "decisions": decisions.get(r.id, []),
        }
        for r in requests
    ]


def export_run(run: Run) -> dict[str, Any]:
    """The run, every span (in seq order) and its approval requests with their decisions, as JSON data."""
    spans = Span.objects.filter(run=run).select_related("prompt_version__prompt").order_by("seq", "started_at", "id")
    # Spans and the run's input, output and error are stored redacted; the rest (approval
    # arguments, metadata, a run recorded before redaction existed) is redacted here. Sealed
    # originals are never exported: another Steward could not open them.
    return redact(
        {
            **envelope(FORMAT),
            "run": _run_dict(run),
            "spans": [_span_dict(s) for s in spans],
            "approvals": _approval_dicts(run),
        }
    )


# --- the shape an import must have ---------------------------------------------------------

Int32 = Annotated[int, Field(ge=-INT32 - 1, le=INT32)]
Count = Annotated[int, Field(ge=0, le=INT32)]
Amount = Annotated[float, Field(ge=0)]
Text64 = Annotated[str, Field(max_length=64)]
Text200 = Annotated[str, Field(max_length=200)]
Text500 = Annotated[str, Field(max_length=500)]
ThreadId = Annotated[str, Field(min_length=1, max_length=100)]


class TotalsV1(StrictModel):
    steps: Count = 0
    # Documents exported before these existed lack them: the import counts the spans it is given,
    # takes the active time as unknown (0) and derives the wall time from started_at and finished_at.
    spans: Count | None = None
    tokens_in: Count = 0
    tokens_out: Count = 0
    cost: Amount = 0.0
    latency_ms: Amount = 0.0
    active_ms: Amount | None = None
    wall_ms: Amount | None = None


class PromptPinV1(StrictModel):
    version: Int32
    label: Annotated[str, Field(max_length=64)] = ""


class RunV1(StrictModel):
    id: uuid.UUID
    prompt_versions: dict[Annotated[str, Field(max_length=100)], PromptPinV1] = {}
    agent: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[-a-zA-Z0-9_]+$")]
    agent_name: Text200 = ""
    thread_id: ThreadId
    status: Literal["queued", "running", "waiting", "succeeded", "failed", "cancelled"]
    input: dict[str, Any]
    output: Any = None
    error: str = ""
    error_traceback: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    graph_fingerprint: Text64 = ""
    created_by: str | None = None
    parent_run_id: uuid.UUID | None = None
    root_run_id: uuid.UUID | None = None
    created_at: Moment
    enqueued_at: Moment | None = None
    started_at: Moment | None = None
    finished_at: Moment | None = None
    attempts: Count = 0
    lease_owner: Text64 = ""
    lease_expires_at: Moment | None = None
    totals: TotalsV1


class SpanV1(StrictModel):
    id: uuid.UUID
    parent_id: uuid.UUID | None = None
    seq: Count
    kind: Literal["node", "model", "tool", "gate"]
    name: Text200
    status: Literal["ok", "error", "paused"]
    started_at: Moment
    latency_ms: Amount = 0.0
    input: Any = None
    output: Any = None
    error: str = ""
    tokens_in: Count = 0
    tokens_out: Count = 0
    cost: Amount = 0.0
    model: Text200 = ""
    checkpoint_id: Text64 = ""
    step: Int32 | None = None
    prompt: Text200 = ""


class DecisionV1(StrictModel):
    id: uuid.UUID | None = None
    user: str | None = None
    decision: Literal["approve", "reject", "edit", "respond", "answer"]
    args: Any = None
    proposed_args: Any = None
    approved_args: Any = None
    args_diff: list[Any] = Field(default_factory=list)
    comment: str = ""
    reason_code: Text200 = ""
    automatic_rule: Text200 = ""
    created_at: Moment | None = None
    # Set when the agent refused the answer this decision led to (the request opened again).
    superseded_at: Moment | None = None


class ApprovalV1(StrictModel):
    id: uuid.UUID | None = None
    queue: Text200
    interrupt_id: Text64 = ""
    requested_by: str | None = None
    action: Text200
    summary: str = ""
    proposed_args: Any = None
    args_schema: dict[str, Any] = Field(default_factory=dict)
    tool_call_id: Text200 = ""
    condition: Text200 = ""
    status: Literal["pending", "approved", "rejected", "expired", "cancelled", "responded"]
    approvals: Count = 0
    approved_args: Any = None
    approved_args_hash: Text64 = ""
    resume_value: Any = None
    decided_by: str | None = None
    decided_at: Moment | None = None
    decided_automatically_by: Text200 = ""
    created_at: Moment | None = None
    due_at: Moment | None = None
    escalation_count: Count = 0
    # The agent's error when it last refused the answer it was resumed with.
    last_resume_error: str = ""
    resume_refused_at: Moment | None = None
    decisions: list[DecisionV1] = Field(default_factory=list)


class TraceV1(StrictModel):
    """A Steward trace export (format "steward.trace.v1")."""

    format: Literal["steward.trace.v1"]
    exported_at: Moment
    source: Text500
    run: RunV1
    spans: list[SpanV1]
    approvals: list[ApprovalV1] = Field(default_factory=list)


# --- validation -------------------------------------------------------------------------------

TRACE = DocumentFormat(FORMAT, "trace", TraceV1, text_locs=True)


def _structure(trace: TraceV1) -> list[dict[str, Any]]:
    """What the schema cannot say: unique span ids and seqs, parents that exist, no cycles."""
    errors: list[dict[str, Any]] = []
    ids: dict[uuid.UUID, int] = {}
    seqs: dict[int, int] = {}
    for i, span in enumerate(trace.spans):
        if span.id in ids:
            errors.append(TRACE.error(["spans", i, "id"], f"the same id as spans[{ids[span.id]}]", "duplicate_id"))
        else:
            ids[span.id] = i
        if span.seq in seqs:
            errors.append(TRACE.error(["spans", i, "seq"], f"the same seq as spans[{seqs[span.seq]}]", "duplicate_seq"))
        else:
            seqs[span.seq] = i
    parents = {s.id: s.parent_id for s in trace.spans}
    for i, span in enumerate(trace.spans):
        if span.parent_id is None:
            continue
        if span.parent_id not in parents:
            errors.append(TRACE.error(["spans", i, "parent_id"], "names no span of this trace", "unknown_parent"))
            continue
        seen = {span.id}
        current: uuid.UUID | None = span.parent_id
        while current is not None:
            if current in seen:
                errors.append(TRACE.error(["spans", i, "parent_id"], "the parent links form a cycle", "parent_cycle"))
                break
            seen.add(current)
            current = parents.get(current)
    return errors


def _not_finished(data: dict[str, Any]) -> list[dict[str, Any]]:
    # Said even when other things are wrong too: fixing those would not make it importable.
    run = data.get("run")
    status = run.get("status") if isinstance(run, dict) else None
    if status in Run.ACTIVE:
        return [TRACE.error(["run", "status"], f"only finished runs can be imported (this run is {status})", "not_finished")]
    return []


def validate_trace(data: Any) -> TraceV1:
    """The document as a checked TraceV1.

    Raises:
        Invalid: (422) a list of {"loc", "msg", "type"} naming everything that is wrong.
    """
    return TRACE.validate(data, before=_not_finished, after=_structure)


# A trace file is read like every Steward document (Invalid, 422: not JSON, or not UTF-8).
parse_trace = parse_json


# --- import -----------------------------------------------------------------------------------


def import_run(data: Any, user: Any) -> Run:
    """Create a read-only copy of an exported run, with new ids, in one transaction.

    Raises:
        Invalid: (422) the document is not a valid export, or its run had not finished.
    """

    # A document from another Steward (or an older one) is stored the way ours are: redacted.
    data = redact(data)
    trace = validate_trace(data)
    source = trace.run
    now = timezone.now()
    metadata = {k: v for k, v in source.metadata.items() if k != "imported"}
    metadata["imported"] = {
        "source": trace.source,
        "original_id": str(source.id),
        "exported_at": trace.exported_at.isoformat(),
        "imported_by": username(user) if getattr(user, "pk", None) else None,
        "imported_at": now.isoformat(),
        "created_by": source.created_by,
        # As exported (checked, and JSON-safe): a later export of this copy gives them back unchanged.
        "approvals": data.get("approvals", []),
    }
    new_ids = {s.id: uuid.uuid4() for s in trace.spans}
    with transaction.atomic():
        agent, _ = Agent.objects.get_or_create(
            key=source.agent, defaults={"name": source.agent_name or source.agent, "is_registered": False}
        )
        run = Run.objects.create(
            id=uuid.uuid4(),
            agent=agent,
            thread_id=source.thread_id,
            status=source.status,
            input=source.input,
            output=source.output,
            error=source.error,
            error_traceback=source.error_traceback,
            metadata=metadata,
            graph_fingerprint=source.graph_fingerprint,
            prompt_versions={name: pin.model_dump() for name, pin in source.prompt_versions.items()},
            # The row's creator here is nobody: the original creator is a user of the source.
            created_by=None,
            created_at=source.created_at,
            enqueued_at=source.enqueued_at,
            started_at=source.started_at,
            finished_at=source.finished_at or now,
            attempts=source.attempts,
            steps=source.totals.steps,
            # What the copy's /steps returns.
            span_count=len(trace.spans),
            tokens_in=source.totals.tokens_in,
            tokens_out=source.totals.tokens_out,
            cost=source.totals.cost,
            latency_ms=source.totals.latency_ms,
            active_seconds=(source.totals.active_ms or 0.0) / 1000,
        )
        Span.objects.bulk_create(
            [
                Span(
                    id=new_ids[s.id],
                    run=run,
                    parent_id=new_ids[s.parent_id] if s.parent_id is not None else None,
                    seq=s.seq,
                    kind=s.kind,
                    name=s.name,
                    status=s.status,
                    started_at=s.started_at,
                    latency_ms=s.latency_ms,
                    input=s.input,
                    output=s.output,
                    error=s.error,
                    tokens_in=s.tokens_in,
                    tokens_out=s.tokens_out,
                    cost=s.cost,
                    model=s.model,
                    checkpoint_id=s.checkpoint_id,
                    step=s.step,
                )
                for s in trace.spans
            ],
            batch_size=500,
        )
        audit.record(user, "run.imported", run, source=trace.source, original_id=str(source.id))
    return Run.objects.select_related("agent", "created_by").get(id=run.id)
