"""Run inspection pages: the agent's graph with the run's path, and the thread's checkpoints.

- `GET /runs/<id>/graph`: the graph LangGraph draws locally (`draw_mermaid()`), with the nodes the
  run visited highlighted and counted, the others greyed (traces/inspection/mermaid.py). Mermaid is loaded
  by this page only.
- `GET /runs/<id>/checkpoints`: the run's thread's checkpoints, newest first, each with the spans
  whose writes made it and its channel values as JSON (capped; the full JSON is a download at
  `GET /runs/<id>/checkpoints/<checkpoint_id>.json`).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.contrib.auth.decorators import login_required
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from agents.engine.checkpointer import checkpointer
from agents.engine.models import Run
from agents.engine.registry import AgentSpec, compile_agent, get_agent, graph_fingerprint
from console.kernel.pages import require
from console.kernel.redaction import redact
from console.kernel.roles import can_read_runs
from console.kernel.serialize import to_jsonable
from traces.inspection.mermaid import END, START, highlight, path_edges
from traces.recording.models import Span

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

__all__ = ["CHECKPOINT_PAGE", "JSON_CAP", "checkpoint_json", "run_checkpoints", "run_graph"]

log = logging.getLogger(__name__)

# Characters of a checkpoint's channel values shown inline; the whole JSON is a download.
JSON_CAP = 20_000
# Checkpoints per page of the checkpoints list (`?before=<checkpoint id>` pages on).
CHECKPOINT_PAGE = 50


def _readable_run(request: HttpRequest, run_id: uuid.UUID) -> Run:
    """The run, if the user may read runs (403 otherwise) and it exists (404 otherwise)."""
    require(can_read_runs(request.user))
    run = Run.objects.select_related("agent").filter(id=run_id).first()
    if run is None:
        raise Http404("run not found")
    return run


# --- the graph ---------------------------------------------------------------------------------


@dataclass
class NodeCount:
    name: str
    count: int
    in_graph: bool


@dataclass
class DrawnGraph:
    mermaid: str
    # Every node of the graph, by name and by id (they differ for some nodes).
    node_names: set[str]
    # The graph's fingerprint now, to compare with the one recorded on the run.
    fingerprint: str


def _draw(spec: AgentSpec, run: Run, node_spans: QuerySet[Span], counts: dict[str, int]) -> DrawnGraph:
    """The agent's graph as Mermaid with the run's path highlighted. Runs the agent's own
    builder: raises whatever it raises."""
    finished = run.status == Run.Status.SUCCEEDED
    graph = compile_agent(spec)
    drawable = graph.get_graph()
    steps = list(node_spans.order_by("seq").values_list("name", "step", "status"))
    taken = path_edges(((name, step) for name, step, _ in steps), finished)
    last_status = {name: status for name, _, status in steps}
    drawn = highlight(drawable, counts, taken, finished, last_status)
    return DrawnGraph(
        mermaid=drawn.text,
        node_names={node.name for node in drawable.nodes.values()} | set(drawable.nodes),
        fingerprint=graph_fingerprint(graph),
    )


@login_required
@require_GET
def run_graph(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    """The agent's graph with this run's path: visited nodes highlighted with their counts."""
    run = _readable_run(request, run_id)
    node_spans = Span.objects.filter(run=run, kind=Span.Kind.NODE)
    counts = {row["name"]: row["n"] for row in node_spans.order_by().values("name").annotate(n=Count("id"))}
    context: dict[str, Any] = {"run": run, "mermaid": "", "problem": "", "changed": False, "unregistered": False}
    in_graph: set[str] = set()
    spec = get_agent(run.agent.key)
    if spec is None:
        context["unregistered"] = True
    else:
        try:
            drawn = _draw(spec, run, node_spans, counts)
        except Exception as exc:  # the agent's own code: a broken builder must not be a 500
            log.exception("drawing the graph of agent %s failed", run.agent.key)
            context["problem"] = f"{type(exc).__name__}: {exc}"
        else:
            context["mermaid"] = drawn.mermaid
            context["changed"] = bool(run.graph_fingerprint) and run.graph_fingerprint != drawn.fingerprint
            in_graph = drawn.node_names
    context["node_counts"] = [
        NodeCount(name=name, count=n, in_graph=name in in_graph)
        for name, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]
    context["never_visited"] = sorted(n for n in in_graph - set(counts) - {START, END}) if in_graph else []
    return render(request, "traces/graph.html", context)


# --- checkpoints -------------------------------------------------------------------------------


@dataclass
class CheckpointRow:
    """One checkpoint of the thread, as the page lists it."""

    checkpoint_id: str
    namespace: str
    step: int | None
    source: str
    created_at: datetime | None
    parent_id: str
    run_id: str
    writers: list[str]
    spans: list[Span] = field(default_factory=list)
    ran_from: list[Span] = field(default_factory=list)
    values_json: str = ""
    # Written by another run on the same thread (a replay).
    other_run: bool = False

    @property
    def size_label(self) -> str:
        return f"{self.values_chars:,}"
    values_chars: int = 0
    truncated: bool = False


def _created(checkpoint: Mapping[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(checkpoint.get("ts", "")))
    except ValueError:
        return None


def _channel_values_json(values: Any) -> str:
    # Checkpoints hold the state as the agent had it: what is shown is redacted.
    return json.dumps(redact(to_jsonable(values)), indent=2, ensure_ascii=False)


def _thread_config(run: Run, **extra: str) -> RunnableConfig:
    return {"configurable": {"thread_id": run.thread_id, **extra}}


def _rows(run: Run, before: str | None) -> tuple[list[CheckpointRow], str | None]:
    """A page of the thread's checkpoints (newest first) and the id to continue before."""
    with checkpointer() as saver:
        before_config = _thread_config(run, checkpoint_id=before) if before else None
        tuples = list(saver.list(_thread_config(run), before=before_config, limit=CHECKPOINT_PAGE + 1))
    more = len(tuples) > CHECKPOINT_PAGE
    tuples = tuples[:CHECKPOINT_PAGE]
    rows: list[CheckpointRow] = []
    for saved in tuples:
        configurable = saved.config["configurable"]
        metadata = saved.metadata or {}
        writes = metadata.get("writes")
        text = _channel_values_json(saved.checkpoint.get("channel_values", {}))
        step = metadata.get("step")
        rows.append(
            CheckpointRow(
                checkpoint_id=str(configurable["checkpoint_id"]),
                namespace=str(configurable.get("checkpoint_ns", "")),
                step=step if isinstance(step, int) else None,
                source=str(metadata.get("source", "")),
                created_at=_created(saved.checkpoint),
                parent_id=str((saved.parent_config or {}).get("configurable", {}).get("checkpoint_id", "")),
                run_id=str(metadata.get("steward_run_id", "")),
                writers=list(writes) if isinstance(writes, dict) else [],
                values_json=text[:JSON_CAP],
                values_chars=len(text),
                truncated=len(text) > JSON_CAP,
                other_run=bool(metadata.get("steward_run_id")) and str(metadata.get("steward_run_id")) != str(run.id),
            )
        )
    _attach_spans(run, rows)
    return rows, rows[-1].checkpoint_id if more and rows else None


def _attach_spans(run: Run, rows: list[CheckpointRow]) -> None:
    """Which spans made each checkpoint.

    The recorder writes a step's spans in the transaction of the task's pending writes, so a span
    names the checkpoint its task ran *from*; the checkpoint its writes made is the child of that
    one, one step later. A span therefore made checkpoint C (step s) when its step is s and it
    names C's parent (or C itself, for spans the saver wrote with C). Spans that name C and ran
    after it but made no checkpoint (a failure, or a pause at a gate) are listed as `ran_from`.
    """
    if not rows:
        return
    ids = {r.checkpoint_id for r in rows} | {r.parent_id for r in rows if r.parent_id}
    # The runs that wrote to this thread (a replay shares its thread), each with its own spans.
    run_ids = {run.id} | {uuid.UUID(r.run_id) for r in rows if _is_uuid(r.run_id)}
    spans = list(
        Span.objects.filter(run_id__in=run_ids, checkpoint_id__in=ids)
        .only("id", "run_id", "seq", "kind", "name", "status", "step", "checkpoint_id", "parent_id")
        .order_by("run_id", "seq")
    )
    claimed: set[uuid.UUID] = set()
    for row in rows:
        made = [
            s
            for s in spans
            if s.step == row.step
            and row.step is not None
            and (s.checkpoint_id == row.parent_id or s.checkpoint_id == row.checkpoint_id)
            and (not row.run_id or str(s.run_id) == row.run_id)
        ]
        row.spans = made
        claimed.update(s.id for s in made)
        if not row.writers:
            row.writers = list(dict.fromkeys(s.name for s in made if s.kind == Span.Kind.NODE))
        if not row.writers and row.step == 0 and row.source == "loop":
            # Step 0 is the input applied by LangGraph's own `__start__` task: no span of ours.
            row.writers = ["__start__"]
    for row in rows:
        row.ran_from = [s for s in spans if s.checkpoint_id == row.checkpoint_id and s.id not in claimed]


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@login_required
@require_GET
def run_checkpoints(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    """The run's thread's checkpoints, newest first, with their spans and channel values."""
    run = _readable_run(request, run_id)
    before = request.GET.get("before") or None
    rows, next_before = _rows(run, before)
    return render(
        request,
        "traces/checkpoints.html",
        {"run": run, "rows": rows, "next_before": next_before, "before": before, "cap": f"{JSON_CAP:,}"},
    )


@login_required
@require_GET
def checkpoint_json(request: HttpRequest, run_id: uuid.UUID, checkpoint_id: str) -> HttpResponse:
    """The full channel values of one of the thread's checkpoints, as a JSON download."""
    run = _readable_run(request, run_id)
    with checkpointer() as saver:
        found = next(iter(saver.list(_thread_config(run, checkpoint_id=checkpoint_id), limit=1)), None)
    if found is None:
        raise Http404("checkpoint not found")
    response = HttpResponse(
        _channel_values_json(found.checkpoint.get("channel_values", {})), content_type="application/json; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="checkpoint-{checkpoint_id}.json"'
    return response
