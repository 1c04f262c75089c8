"""Retry in place, and replay from any step as a new run on its own thread.

A `recorded` replay runs no node code at all, whatever the agent is made of: in one transaction it
copies the original's whole thread (every checkpoint of every namespace, with its blobs and pending
writes, same checkpoint ids and parents: agents/engine/thread_copy.py) to a new thread, copies its
spans (traces/recording/span_copy.py) and writes the new run, which the worker then stops with the
original's final status and output without invoking the graph (agents/engine/runtime.py). A run
whose outcome cannot be copied (still waiting, cancelled, its checkpoints gone) is refused.

Any other replay copies the checkpoint the chosen step ran from into a fresh thread (the original
run and its thread are never written), optionally patches the state there, and queues the new run,
whose node code runs:

- `cassette`: every LangChain chat model and tool call is answered from the original's recording
  (traces/recording/cassette.py, at the `BaseChatModel` / `BaseTool` level, whatever built them);
  a call the recording does not hold fails the replay, nothing is called out;
- `mixed` (and a `recorded` replay with a change: a state patch, another prompt version or model):
  calls are played back like that before `live_from_step` and made live from it on;
- `live`: every call is made again.

`preview` lists what a replay would run again, for the engineer to confirm before it starts.

`from_checkpoint` and `fork_in_place` are the live replay of a thread from one of its checkpoints
on that same thread (LangGraph's time travel, the LangGraph API's `checkpoint_id`): the same
refusals and safety preview as a live replay from the step after that checkpoint, the checkpoint
copied as the thread's newest, and the new run continuing from it (gates ask again, every step
is recorded).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.utils import timezone
from langgraph.checkpoint.base import create_checkpoint

from agents.engine import dead_letters
from agents.engine.checkpointer import checkpointer
from agents.engine.models import DeadLetter, IdempotencyRecord, Run
from agents.engine.registry import get_agent
from agents.engine.run_queue import send_run
from agents.engine.runtime import compiled_graph
from agents.engine.thread_copy import copy_thread
from agents.prompts import PromptNotFound, pins_for_new_run, save_pins
from agents.prompts.models import PromptVersion
from approvals.models import ApprovalRequest
from console.kernel import audit, live
from console.kernel.errors import Conflict, Invalid, NotFound
from console.kernel.sealing import SealError, open_json
from traces.recording.models import Span
from traces.recording.sealed import copy_sealed_input
from traces.recording.span_copy import copy_spans

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

__all__ = [
    "MODES", "CheckpointStart", "changed_prompts", "find_checkpoint", "first_changed_call", "fork_in_place", "from_checkpoint", "prompt_choices",
    "replay", "retry", "steps_of",
]

MODES = ("recorded", "cassette", "mixed", "live")
# What the safety preview says a cassette does not catch.
NOT_INTERCEPTED = (
    "Only LangChain chat models and tools are played back: other code in a node (a plain HTTP call, a database "
    "write, a file) runs again for real, and so do calls made from threads a node starts itself."
)


def steps_of(run: Run) -> dict[int, tuple[str, str]]:
    """Step → (node name, the checkpoint it ran from), from the run's node spans."""
    steps: dict[int, tuple[str, str]] = {}
    for step, name, checkpoint_id in (
        Span.objects.filter(run=run, kind=Span.Kind.NODE).exclude(checkpoint_id="").order_by("seq")
        .values_list("step", "name", "checkpoint_id")
    ):
        if step is not None and step not in steps:
            steps[step] = (name, checkpoint_id)
    return steps


def prompt_choices(run: Run) -> list[dict[str, Any]]:
    """For each prompt the run pinned: its pinned version and every version a replay may use."""

    pins = run.prompt_versions or {}
    if not pins:
        return []
    versions: dict[str, list[tuple[int, str]]] = {}
    for name, number, message in (
        PromptVersion.objects.filter(prompt__name__in=list(pins)).order_by("number").values_list("prompt__name", "number", "message")
    ):
        versions.setdefault(name, []).append((number, message))
    return [
        {"name": name, "pinned": pin.get("version"), "versions": versions.get(name, [])}
        for name, pin in sorted(pins.items())
    ]


def _graph_change(run: Run) -> str | None:
    """What no longer matches, if the agent's code changed since the run (None if unchanged)."""
    spec = get_agent(run.agent.key)
    if spec is None:
        return f"the agent {run.agent.key!r} is no longer registered"
    current = spec.fingerprint()
    if run.graph_fingerprint and current != run.graph_fingerprint:
        nodes = set(spec.build().nodes)
        missing = sorted(set(Span.objects.filter(run=run, kind=Span.Kind.NODE).values_list("name", flat=True)) - nodes)
        detail = f"; nodes no longer in the graph: {', '.join(missing)}" if missing else ""
        return f"the agent's graph has changed since this run (nodes or edges differ{detail})"
    return None


def _refuse_pruned(run: Run) -> None:
    # Retention deleted the spans a replay plays back and the checkpoints it starts from.
    if run.pruned_at is not None:
        raise Conflict(
            f"this run's spans and checkpoints were pruned on {run.pruned_at:%Y-%m-%d} "
            f"(retention {run.pruned_after_days} days): it can no longer be replayed or retried"
        )


def _failing_breach(run: Run) -> str:
    """The message of the limit breach the run failed on, or "" when it failed for another reason."""
    last = (run.limit_breaches or [{}])[-1]
    message = str(last.get("message") or "")
    return message if last.get("state") == "failed" and message and run.error.startswith(message) else ""


def retry(run: Run, user: Any) -> Run:
    """Run a failed run again from its last checkpoint: the failed node runs again, the
    idempotency ledger keeps side effects single.

    Raises:
        Conflict: the run did not fail, its agent's graph changed, or it failed on one of its limits
            (replay it instead).
    """
    _refuse_pruned(run)
    if run.status != Run.Status.FAILED:
        raise Conflict(f"only a failed run can be retried; this one is {run.status}")
    if run.metadata.get("imported"):
        raise Conflict("imported runs are read-only")
    change = _graph_change(run)
    if change:
        raise Conflict(f"{change}: retrying in place would resume a graph that no longer exists; replay it from the start")
    breach = _failing_breach(run)
    if breach:
        # The run keeps the limits fixed when it started, so in place it would stop again at once.
        raise Conflict(
            f"this run failed on a limit ({breach}): retrying it in place would stop it again at once; "
            "replay it instead (a replay takes the agent's current limits)"
        )
    with transaction.atomic():
        updated = Run.requeue(run.id, Run.Status.FAILED)
        if not updated:
            raise Conflict("the run changed meanwhile")
        audit.record(user, "run.retried", run)
        send_run(run.id)
        live.publish_run(run.id, Run.Status.QUEUED)
    run.refresh_from_db()
    return run


def retry_dead_letter(letter_id: uuid.UUID, user: Any) -> Run:
    """Retry the run in place from its last checkpoint (`retry`) and close the entry.

    Raises:
        NotFound, Conflict: no such entry, it was already closed, or the run cannot be retried.
    """
    letter = dead_letters.get_open(letter_id)
    # Close the entry first, in the transaction that requeues the run: the run is sent to a worker
    # only on commit, so a new failure lands after this and reopens the entry, never the reverse.
    with transaction.atomic():
        if not letter.resolve(DeadLetter.Resolution.RETRIED, user):
            raise Conflict("this entry was closed meanwhile")
        run = retry(letter.run, user)
    return run


@dataclass
class _Plan:
    """A replay's checked arguments: the mode it really runs in and what it starts from."""

    mode: str
    live_from_step: int | None
    steps: dict[int, tuple[str, str]]
    pins: dict[str, Any]


def _checked(
    original: Run, *, from_step: int | None, mode: str, live_from_step: int | None,
    state_patch: dict[str, Any] | None, prompt_versions: dict[str, int] | None, model: str | None,
) -> _Plan:
    """Everything `replay` refuses, checked without writing anything (the preview checks it too).

    Raises:
        Invalid, Conflict: as `replay`.
    """
    _refuse_pruned(original)
    errors: list[dict[str, Any]] = []
    if mode not in MODES:
        errors.append({"loc": ["body", "mode"], "msg": f"mode must be one of {', '.join(MODES)}"})
    if mode == "mixed" and live_from_step is None:
        errors.append({"loc": ["body", "live_from_step"], "msg": "a mixed replay needs live_from_step"})
    steps = steps_of(original)
    if from_step is not None and from_step not in steps:
        known = ", ".join(map(str, sorted(steps))) or "none"
        errors.append({"loc": ["body", "from_step"], "msg": f"step {from_step} does not exist in this run (steps: {known})"})
    if state_patch is not None and from_step is None:
        errors.append({"loc": ["body", "state_patch"], "msg": "a state patch needs from_step: the state at that step is edited"})
    if model is not None and not model.strip():
        errors.append({"loc": ["body", "model"], "msg": "name a model, e.g. openai:gpt-4o-mini"})
    if mode == "cassette" and (model or changed_prompts(original, prompt_versions)):
        # A recording cannot say what another prompt or model would answer: every such call would miss.
        field = "model" if model else "prompt_versions"
        errors.append({"loc": ["body", field], "msg": (
            "a cassette replay answers every model call from this run's recording, which cannot say what another "
            "prompt version or model would answer; replay it mixed or live instead"
        )})
    pins = dict(original.prompt_versions or {})
    # An imported run's pins name the exporting Steward's versions (no id here): this Steward's
    # versions with those numbers, or a 422 saying which is missing.
    foreign = {name: int(pin["version"]) for name, pin in pins.items() if "id" not in pin}
    if prompt_versions or foreign:
        try:
            local = {name: pin for name, pin in pins.items() if name not in foreign}
            pins = pins_for_new_run({}, "", inherited=local, overrides={**foreign, **(prompt_versions or {})})
        except PromptNotFound as exc:
            errors.append({"loc": ["body", "prompt_versions"], "msg": str(exc)})
    if errors:
        raise Invalid(errors)
    mode, live_from_step = effective_mode(
        original, mode, from_step=from_step, live_from_step=live_from_step, state_patch=state_patch,
        prompt_versions=prompt_versions, model=model,
    )
    if state_patch and from_step is not None:
        _check_patch_keys(original, steps[from_step][1], state_patch)
    if original.status in (Run.Status.QUEUED, Run.Status.RUNNING):
        raise Conflict(f"the run is still {original.status}; replay it once it stops")
    if mode == "recorded":
        _refuse_uncopyable(original)
    if mode == "cassette":
        _refuse_without_recording(original)
    change = _graph_change(original)
    if change and from_step is not None:
        raise Conflict(f"{change}: only a replay from the start is possible")
    if get_agent(original.agent.key) is None:
        raise Conflict(f"the agent {original.agent.key!r} is no longer registered")
    return _Plan(mode, live_from_step, steps, pins)



def replay(
    original: Run,
    user: Any,
    *,
    from_step: int | None = None,
    mode: str = "recorded",
    live_from_step: int | None = None,
    state_patch: dict[str, Any] | None = None,
    prompt_versions: dict[str, int] | None = None,
    model: str | None = None,
) -> Run:
    """Queue a new run that replays `original` from `from_step` (None: from the start).

    The replay keeps the original's pinned prompt versions, except those in `prompt_versions`
    ({name: version number}); `model` replaces the agent's model. With either change or a
    `state_patch`, a `recorded` replay becomes `mixed` (`effective_mode`): played back up to the
    first step the change affects, live from there. A `cassette` replay takes no such change.

    Raises:
        Invalid: unknown mode, a step that does not exist, a patch naming unknown state keys, a
            cassette replay with another prompt version or model.
        Conflict: the agent's graph changed (only a replay from the start still makes sense), the
            run is still going, or the mode cannot keep its promise for this run (a recorded copy
            of a run with nothing to copy, a cassette of a run with no recording).
    """
    plan = _checked(
        original, from_step=from_step, mode=mode, live_from_step=live_from_step, state_patch=state_patch,
        prompt_versions=prompt_versions, model=model,
    )
    mode, live_from_step, steps, pins, copied = plan.mode, plan.live_from_step, plan.steps, plan.pins, plan.mode == "recorded"
    new_id = uuid.uuid4()
    base_checkpoint = steps[from_step][1] if from_step is not None else ""
    spec = get_agent(original.agent.key)
    if spec is None:
        raise Conflict(f"the agent {original.agent.key!r} is no longer registered")
    if base_checkpoint and not copied:
        _fork(original, str(new_id), base_checkpoint, state_patch, steps, from_step)
    with transaction.atomic():
        run = Run.objects.create(
            id=new_id,
            agent=original.agent,
            thread_id=str(new_id),
            input=original.input,
            created_by=user if getattr(user, "pk", None) else None,
            parent_run=original,
            root_run_id=original.root_id,
            graph_fingerprint=spec.fingerprint(),
            enqueued_at=timezone.now(),
            prompt_versions=pins,
            metadata={
                "replay": {
                    "source_run_id": str(original.id),
                    "mode": mode,
                    "from_step": from_step,
                    "live_from_step": live_from_step,
                    "checkpoint_id": base_checkpoint,
                    "state_patch": state_patch,
                    "prompt_versions": prompt_versions or None,
                    "model": model or None,
                    # The worker ends the run as the original ended, and invokes nothing.
                    "copied": copied,
                }
            },
            # The original's outcome, for the worker to stop the copy with.
            **(_outcome_of(original) if copied else {}),
        )
        save_pins(run.id, pins)
        # The input as submitted, for a replay from the start (Run.input is redacted).
        copy_sealed_input(original.id, run.id)
        if copied:
            _copy_recording(original, run, from_step)
        audit.record(
            user, "run.replayed", run, source=str(original.id), mode=mode, from_step=from_step,
            state_patch=state_patch, prompt_versions=prompt_versions, model=model,
        )
        send_run(run.id)
        live.publish_run(run.id, run.status)
    return run


def effective_mode(
    original: Run, mode: str, *, from_step: int | None, live_from_step: int | None,
    state_patch: dict[str, Any] | None, prompt_versions: dict[str, int] | None, model: str | None,
) -> tuple[str, int | None]:
    """The mode a replay really runs in, and the step it goes live from.

    A `recorded` replay with a change cannot be a copy: it becomes `mixed`, played back up to the
    first step the change affects and live from there (a state patch affects `from_step`; another
    prompt version or model, the first model call it changes)."""
    if mode != "recorded":
        return mode, live_from_step
    if state_patch is not None:
        return "mixed", from_step or 0
    if changed_prompts(original, prompt_versions) or model:
        changed_call = first_changed_call(original, from_step, prompt_versions, model)
        # No model call from `from_step` on: live from where the replay starts.
        return "mixed", changed_call if changed_call is not None else (from_step or 0)
    return mode, live_from_step


def _refuse_without_recording(original: Run) -> None:
    """A cassette answers model and tool calls from the original's spans: refuse when it cannot."""
    recorded = Span.objects.filter(run=original)
    if not recorded.exists():
        raise Conflict(
            "this run has no recorded spans: a cassette replay answers model and tool calls from them and would "
            "have nothing to answer with; replay it live instead"
        )
    for span in recorded.filter(kind__in=(Span.Kind.MODEL, Span.Kind.TOOL)).exclude(sealed=None).only("id", "kind", "name", "sealed"):
        try:
            open_json(bytes(span.sealed or b""), span.id.bytes)
        except SealError as exc:
            raise Conflict(
                f"the recorded {span.kind} call {span.name!r} holds secrets sealed with another encryption key ({exc}): "
                "a cassette replay could not play it back; restore the key or replay it live"
            ) from None


def _refuse_uncopyable(original: Run) -> None:
    """A recorded replay copies a finished run; refuse one whose outcome a copy cannot keep."""
    if original.status == Run.Status.WAITING:
        raise Conflict(
            "the run is waiting (for a decision or a limit): a recorded replay copies a run that has stopped, and "
            "this one's outcome is not known yet; replay it once it stops, or replay it live"
        )
    if original.status == Run.Status.CANCELLED:
        raise Conflict("the run was cancelled: a recorded replay has no outcome to copy; replay it live instead")
    if (original.metadata or {}).get("imported"):
        raise Conflict(
            "the run was imported from another Steward without its checkpoints: a recorded replay copies them "
            "and has nothing to copy; replay it live instead"
        )
    # An imported copy keeps its source's thread id but wrote no checkpoints to it.
    sharing = Run.objects.filter(thread_id=original.thread_id).exclude(id=original.id).exclude(metadata__has_key="imported")
    if sharing.exists():
        raise Conflict(
            "the run shares its thread with other runs: a recorded replay copies the whole thread, which holds "
            "their steps too; replay it live instead"
        )


def _copy_recording(original: Run, run: Run, from_step: int | None) -> None:
    """The original's whole thread and its spans, onto the new run (in the caller's transaction).

    Raises:
        Conflict: the original has no checkpoints left, or a sealed span value does not open.
    """
    with connection.cursor() as cursor:
        if not copy_thread(cursor, connection.vendor, original.thread_id, run.thread_id):
            raise Conflict(
                "this run's checkpoints are gone (pruned or deleted): a recorded replay copies them and has "
                "nothing to copy; replay it live instead"
            )
    copy_spans(original.id, run.id, from_step)


def _outcome_of(original: Run) -> dict[str, Any]:
    return {"output": original.output, "error": original.error, "error_traceback": original.error_traceback}


def changed_prompts(original: Run, prompt_versions: dict[str, int] | None) -> set[str]:
    """The prompts whose chosen version differs from the one the original pinned."""
    pinned = original.prompt_versions or {}
    return {name for name, number in (prompt_versions or {}).items() if (pinned.get(name) or {}).get("version") != number}


def first_changed_call(
    original: Run, from_step: int | None, prompt_versions: dict[str, int] | None, model: str | None
) -> int | None:
    """The step of the first model call (from `from_step` on) that a prompt or model change
    affects; None when nothing changes or the original made no model call there."""
    changed = changed_prompts(original, prompt_versions)
    if not changed and not model:
        return None
    calls = Span.objects.filter(run=original, kind=Span.Kind.MODEL).exclude(step=None).order_by("seq")
    if from_step is not None:
        calls = calls.filter(step__gte=from_step)
    if changed and not model:
        tagged = calls.filter(prompt_version__prompt__name__in=sorted(changed)).values_list("step", flat=True).first()
        if tagged is not None:
            return int(tagged)
    first = calls.values_list("step", flat=True).first()
    return int(first) if first is not None else None


def _check_patch_keys(original: Run, checkpoint_id: str, patch: dict[str, Any]) -> None:
    """A state patch may only set keys the state at that step has."""
    with checkpointer() as saver:
        source = saver.get_tuple(
            {"configurable": {"thread_id": original.thread_id, "checkpoint_ns": "", "checkpoint_id": checkpoint_id}}
        )
    if source is None:
        raise Conflict(f"the checkpoint {checkpoint_id} of this run is gone (pruned?): replay it from the start")
    known = set(source.checkpoint.get("channel_values", {}))
    unknown = sorted(set(patch) - known)
    if unknown:
        raise Invalid([{"loc": ["body", "state_patch", k], "msg": f"no state key {k!r} (keys: {', '.join(sorted(known))})"} for k in unknown])


def _fork(
    original: Run, thread_id: str, checkpoint_id: str, patch: dict[str, Any] | None,
    steps: dict[int, tuple[str, str]], from_step: int | None,
) -> None:
    """Copy one checkpoint of the original's thread, as it is, into a new thread; then patch it."""
    target: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    with checkpointer() as saver:
        source = saver.get_tuple(
            {"configurable": {"thread_id": original.thread_id, "checkpoint_ns": "", "checkpoint_id": checkpoint_id}}
        )
        if source is None:
            raise Conflict(f"the checkpoint {checkpoint_id} of this run is gone (pruned?): replay it from the start")
        saved = saver.put(target, source.checkpoint, source.metadata, dict(source.checkpoint.get("channel_versions", {})))
        if patch:

            spec = get_agent(original.agent.key)
            assert spec is not None and from_step is not None
            graph = compiled_graph(spec, saver)
            # The edit is made "as" the node that ran before this step, so the step runs next.
            previous = steps.get(from_step - 1, ("__start__", ""))[0]
            graph.update_state(saved, patch, as_node=previous)


def preview(
    original: Run, *, from_step: int | None, mode: str, live_from_step: int | None,
    state_patch: dict[str, Any] | None = None, prompt_versions: dict[str, int] | None = None, model: str | None = None,
) -> dict[str, Any]:
    """What a replay would run again, for the engineer to confirm first.

    Raises:
        Invalid, Conflict: what `replay` would refuse (e.g. a cassette replay of a run with no recording).

    Returns:
        {"mode", "live_from", "runs_code": whether node code runs, "nodes": every node that runs
        again (step, name, "live" or "played back"), "tool_calls": every tool call recorded in those
        steps, whatever made it (ToolNode, create_agent, Steward's tool loop), with what happens to
        it and the approval request it opened, "approvals": gates that would ask again, "ledger":
        the ledger entries of this replay chain (they return their stored result instead of acting
        twice), "not_intercepted": what a played-back step still runs for real}.
    """
    plan = _checked(
        original, from_step=from_step, mode=mode, live_from_step=live_from_step, state_patch=state_patch,
        prompt_versions=prompt_versions, model=model,
    )
    mode, live_from_step = plan.mode, plan.live_from_step
    start = from_step or 0
    if mode == "recorded":
        runs_code, live_from = False, None
    elif mode == "cassette":
        runs_code, live_from = True, None
    elif mode == "mixed":
        runs_code, live_from = True, live_from_step
    else:
        runs_code, live_from = True, start

    def fate(step: int | None) -> str:
        return "live" if live_from is not None and step is not None and step >= live_from else "played back"

    recorded = Span.objects.filter(run=original, kind__in=(Span.Kind.NODE, Span.Kind.TOOL, Span.Kind.GATE), step__gte=start)
    fields = ("id", "parent_id", "kind", "name", "step", "status", "input", "output")
    spans = [dict(row) for row in recorded.order_by("seq").values(*fields)] if runs_code else []
    kinds: dict[Any, str] = {span["id"]: span["kind"] for span in spans}
    # Spans that paused only because a tool or gate inside them did.
    paused_by_child = {span["parent_id"] for span in spans if span["status"] == "paused" and span["kind"] != Span.Kind.NODE}
    nodes, tool_calls, gates = [], [], []
    seen_nodes: set[tuple[Any, str]] = set()
    for span in spans:
        if span["kind"] == Span.Kind.NODE and (span["step"], span["name"]) not in seen_nodes:
            seen_nodes.add((span["step"], span["name"]))
            nodes.append({"step": span["step"], "name": span["name"], "calls": fate(span["step"])})
        if span["status"] == "paused" and span["kind"] != Span.Kind.GATE and span["id"] not in paused_by_child and (
            fate(span["step"]) == "live" or span["kind"] == Span.Kind.NODE
        ):
            # It paused for a person (an interrupt() in its own code): run again, it asks again; a
            # tool that is played back does not run, so it does not ask.
            gates.append({**span, "input": {}})
        if span["kind"] == Span.Kind.NODE:
            continue
        if span["kind"] == Span.Kind.TOOL and span["status"] != "paused":
            output = span["output"] if isinstance(span["output"], dict) else {}
            # A call made inside another tool: played back, it goes with its caller.
            nested = kinds.get(span["parent_id"]) == Span.Kind.TOOL
            played = "not run (inside a played-back tool)" if nested else "played back, not run"
            tool_calls.append({
                "step": span["step"], "name": span["name"], "args": span["input"], "nested": nested,
                "tool_call_id": str(output.get("tool_call_id") or ""), "status": span["status"],
                "fate": "runs again" if fate(span["step"]) == "live" else played,
            })
        elif span["kind"] == Span.Kind.GATE and (fate(span["step"]) == "live" or kinds.get(span["parent_id"]) == Span.Kind.NODE):
            # Live, every gate asks again; played back, a gate in a tool does not (the tool does not
            # run), but an interrupt() in node code does.
            gates.append(span)
    _attach_requests(original, tool_calls)
    approvals = _gates_asking_again(gates)
    if approvals:
        # The queue the original asked in, for a pause whose span does not name it.
        queue_of = dict(ApprovalRequest.objects.filter(run=original).values_list("action", "queue__name"))
        for approval in approvals:
            approval["queue"] = approval["queue"] or queue_of.get(approval["action"], "")
    return {
        "mode": mode, "live_from": live_from, "runs_code": runs_code, "nodes": nodes, "tool_calls": tool_calls,
        "approvals": approvals,
        "ledger": list(
            IdempotencyRecord.objects.filter(run_id__in=[original.root_id, original.id])
            .order_by("created_at").values("key", "action", "created_at")
        ),
        "not_intercepted": NOT_INTERCEPTED if mode in ("cassette", "mixed") else "",
    }


def _attach_requests(original: Run, tool_calls: list[dict[str, Any]]) -> None:
    """Each tool call's approval request in the original, by its tool_call_id (one query)."""
    ids = {call["tool_call_id"] for call in tool_calls if call["tool_call_id"]}
    requests = {
        r["tool_call_id"]: r
        for r in ApprovalRequest.objects.filter(run=original, tool_call_id__in=ids).values("tool_call_id", "queue__name", "status")
    } if ids else {}
    for call in tool_calls:
        found = requests.get(call["tool_call_id"])
        call["approval"] = {"queue": found["queue__name"], "status": found["status"]} if found else None


def _gates_asking_again(gates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[tuple[Any, str]] = set()
    approvals = []
    for gate in gates:
        if (gate["step"], gate["name"]) in seen:
            continue
        seen.add((gate["step"], gate["name"]))
        payload = gate["input"] if isinstance(gate["input"], dict) else {}
        approvals.append({"step": gate["step"], "action": gate["name"], "queue": payload.get("queue", ""), "args": payload.get("args")})
    return approvals


# --- a live replay on the thread itself, from one of its checkpoints --------------------------


@dataclass
class CheckpointStart:
    """A run from a thread's checkpoint, checked: the run that wrote the checkpoint (None for one
    written by a state update), the first of its steps that runs again, and the safety preview."""

    checkpoint_id: str
    source: Run | None
    from_step: int | None
    preview: dict[str, Any] | None

    def metadata(self, with_input: bool) -> dict[str, Any]:
        """The run's `replay` metadata: a live replay, on the thread itself."""
        shown = self.preview or {}
        return {
            "source_run_id": str(self.source.id) if self.source else None,
            "mode": "live",
            "from_step": self.from_step,
            "live_from_step": None,
            "checkpoint_id": self.checkpoint_id,
            "copied": False,
            "in_place": True,
            # With input the graph starts a new turn from the checkpoint's state (as LangGraph's
            # invoke with input and a checkpoint_id); without, it continues from the checkpoint.
            "with_input": with_input,
            "preview": {key: shown.get(key, []) for key in ("nodes", "tool_calls", "approvals")},
        }


def _checkpoint_config(thread_id: str, checkpoint_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": "", "checkpoint_id": checkpoint_id}}


def find_checkpoint(thread_id: str, checkpoint_id: str) -> Any:
    """The thread's checkpoint (LangGraph's CheckpointTuple).

    Raises:
        NotFound: the thread has no such checkpoint."""
    with checkpointer() as saver:
        found = saver.get_tuple(_checkpoint_config(thread_id, checkpoint_id))
    if found is None:
        raise NotFound(f"checkpoint {checkpoint_id!r} not found on thread {thread_id!r}")
    return found


def from_checkpoint(thread_id: str, checkpoint_id: str) -> CheckpointStart:
    """What running the thread again from this checkpoint would run, checked as a live replay
    from the step after it (the run that wrote it: not still going, not pruned, its graph
    unchanged, its agent registered).

    Raises:
        NotFound: the thread has no such checkpoint. Conflict: as `replay`.
    """
    found = find_checkpoint(thread_id, checkpoint_id)
    writer = str((found.metadata or {}).get("steward_run_id") or "")
    # Steward's runs stamp their checkpoints with their id (a reserved key); a state update does not.
    source = Run.objects.select_related("agent").filter(id=writer).first() if writer else None
    if source is None:
        return CheckpointStart(checkpoint_id, None, None, None)
    # The nodes that ran from this checkpoint on are the source's steps after the checkpoint's.
    step = (found.metadata or {}).get("step")
    later = sorted(s for s in steps_of(source) if isinstance(step, int) and s > step)
    from_step = later[0] if later else None
    if from_step is None:
        # Nothing of the source ran after it (its last checkpoint): the checks alone.
        _checked(source, from_step=None, mode="live", live_from_step=None, state_patch=None, prompt_versions=None, model=None)
        return CheckpointStart(checkpoint_id, source, None, None)
    shown = preview(source, from_step=from_step, mode="live", live_from_step=None)
    return CheckpointStart(checkpoint_id, source, from_step, shown)


def fork_in_place(thread_id: str, checkpoint_id: str) -> str:
    """Copy the checkpoint as the thread's newest (its child: LangGraph's fork), so the thread's
    next run starts from its state; the id of the copy. The original checkpoints stay, so the
    history keeps both branches.

    Raises:
        NotFound: the checkpoint is gone.
    """
    with checkpointer() as saver:
        found = saver.get_tuple(_checkpoint_config(thread_id, checkpoint_id))
        if found is None:
            raise NotFound(f"checkpoint {checkpoint_id!r} not found on thread {thread_id!r}")
        step = int((found.metadata or {}).get("step") or 0)
        copy = create_checkpoint(found.checkpoint, None, step)
        metadata = {**(found.metadata or {}), "source": "fork", "steward_forked_from": checkpoint_id}
        saved = saver.put(
            _checkpoint_config(thread_id, checkpoint_id), copy, metadata,  # type: ignore[arg-type]
            dict(found.checkpoint.get("channel_versions", {})),
        )
    return str(saved["configurable"]["checkpoint_id"])
