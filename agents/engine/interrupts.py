"""Adapters between the shapes an agent's `interrupt()` value takes and Steward's decisions.

An agent may pause with Steward's own gate payload (approvals/gate.py), with LangChain's
`HumanInTheLoopMiddleware` (a batched `HITLRequest` or a per-call `ToolApprovalRequest`), with
an Agent Inbox `HumanInterrupt` list, or with any other value (a question, a dict, a list).
Each shape expects its own resume value. `describe` reads the value into what a reviewer sees
(actions: name, args, description, the decisions allowed); `resume_value` turns the reviewer's
decisions back into the value the agent's code reads.

A static breakpoint (`interrupt_before` / `interrupt_after`, compiled in) is no `interrupt()`
at all: the graph just stops between steps. `static_breakpoint` reads from the checkpoint where
it stopped and which nodes it stopped for (a `Breakpoint`); it is shown as the `breakpoint` shape,
whose only answers are continue (`approve`) and stop (`reject`).

Shapes are stored on the approval request as plain JSON (`InterruptShape.as_json`), so the
resume value is built from what the reviewer saw, not from the graph at deciding time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langgraph.prebuilt import ToolNode
from pydantic import BaseModel

__all__ = [
    "AGENT_INBOX",
    "ANSWER",
    "BREAKPOINT",
    "FREE_FORM",
    "GATE",
    "HITL_BATCH",
    "HITL_CALL",
    "ActionDecision",
    "Breakpoint",
    "InterruptShape",
    "ResumeShapeError",
    "decision_of_resume",
    "describe",
    "resume_value",
    "static_breakpoint",
    "tool_args_schemas",
]

GATE = "gate"
HITL_BATCH = "hitl_batch"
HITL_CALL = "hitl_call"
AGENT_INBOX = "agent_inbox"
FREE_FORM = "free_form"
BREAKPOINT = "breakpoint"

# Steward's decisions on an action; a free-form interrupt takes an answer instead.
ACTION_DECISIONS = ("approve", "edit", "reject", "respond")
ANSWER = "answer"
# A static breakpoint takes only "continue" (approve) or "stop" (reject).
BREAKPOINT_DECISIONS = ("approve", "reject")

# Agent Inbox's `config` flags, by the Steward decision each allows.
_INBOX_FLAGS = {"approve": "allow_accept", "edit": "allow_edit", "respond": "allow_respond", "reject": "allow_ignore"}


@dataclass
class ActionDecision:
    """A reviewer's decision on one action: `args` for an edit, `comment` for reject/respond."""

    decision: str
    args: dict[str, Any] | None = None
    comment: str = ""


@dataclass
class InterruptShape:
    """What a reviewer sees of one interrupt. `actions` are dicts {name, args, description,
    allowed, args_schema}; a free-form interrupt has none and shows `value`."""

    kind: str
    actions: list[dict[str, Any]] = field(default_factory=list)
    value: Any = None
    response_schema: dict[str, Any] | None = None

    @property
    def allowed(self) -> list[str]:
        """The decisions allowed on the whole request (on any of its actions)."""
        if self.kind == FREE_FORM:
            return [ANSWER]
        if self.kind == GATE:
            return list(ACTION_DECISIONS)
        if self.kind == BREAKPOINT:
            return list(BREAKPOINT_DECISIONS)
        return [d for d in ACTION_DECISIONS if any(d in a["allowed"] for a in self.actions)]

    @property
    def asks_a_question(self) -> bool:
        """A question rather than an action to approve: a free-form answer, or a request whose only
        answer is a response. Usually put to whoever started the run, so by default the run's
        requester may answer it (approvals' `Queue.requester_may_answer`); approving or editing an
        action stays four-eyes."""
        return self.kind == FREE_FORM or self.allowed == ["respond"]

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "actions": self.actions, "value": self.value, "response_schema": self.response_schema}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> InterruptShape:
        data = data or {}
        return cls(
            kind=str(data.get("kind") or GATE),
            actions=list(data.get("actions") or []),
            value=data.get("value"),
            response_schema=data.get("response_schema"),
        )


@dataclass
class Breakpoint:
    """Where a run stopped at a static breakpoint: `when` ("before" or "after") which `nodes`,
    at which checkpoint, with the graph's state then (JSON, redacted: only shown, never resumed with)."""

    when: str
    nodes: list[str]
    checkpoint_id: str
    step: int | None = None
    state: Any = None

    @property
    def key(self) -> str:
        """The request's interrupt id: one request per breakpoint stop (per checkpoint)."""
        return f"breakpoint:{self.checkpoint_id}"

    @property
    def label(self) -> str:
        return f"{self.when} {', '.join(self.nodes)}"

    def as_json(self) -> dict[str, Any]:
        return {"when": self.when, "nodes": self.nodes, "checkpoint_id": self.checkpoint_id, "step": self.step}


def _breakpoint_shape(stop: Breakpoint) -> InterruptShape:
    if stop.when == "before":
        text = f"Paused before {', '.join(stop.nodes)} runs (a static breakpoint). Continue runs it; stop cancels the run."
    else:
        text = f"Paused after {', '.join(stop.nodes)} ran (a static breakpoint). Continue goes on; stop cancels the run."
    # One action, whatever the number of nodes: a breakpoint is continued (or stopped) as a whole.
    # Its args are the state, for the reviewer to read; nothing is edited.
    action = {
        "name": ", ".join(stop.nodes),
        "args": stop.state if isinstance(stop.state, dict) else {"state": stop.state},
        "description": text,
        "allowed": list(BREAKPOINT_DECISIONS),
        "args_schema": {},
    }
    return InterruptShape(BREAKPOINT, actions=[action], value={**stop.as_json(), "state": stop.state})


_JSON_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number", list: "array", dict: "object"}


def _schema_of_present_keys(args: dict[str, Any]) -> dict[str, Any]:
    """With no tool schema known, an edit may change only the keys already there (each keeping
    its JSON type), and drop none of them."""
    properties = {key: ({"type": _JSON_TYPES[type(v)]} if type(v) in _JSON_TYPES else {}) for key, v in args.items()}
    return {"type": "object", "properties": properties, "required": list(args), "additionalProperties": False}


def _action(name: Any, args: Any, description: Any, allowed: Sequence[str], schema: dict[str, Any] | None) -> dict[str, Any]:
    args = args if isinstance(args, dict) else {}
    return {
        "name": str(name or "action"),
        "args": args,
        "description": str(description or ""),
        "allowed": [d for d in ACTION_DECISIONS if d in allowed],
        "args_schema": schema if schema and schema.get("properties") else _schema_of_present_keys(args),
    }


def _is_gate(value: Any) -> bool:
    return isinstance(value, dict) and {"queue", "action", "args"} <= set(value)


def _is_hitl_batch(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("action_requests"), list)
        and isinstance(value.get("review_configs"), list)
        and all(isinstance(a, dict) and "name" in a for a in value["action_requests"])
    )


def _is_hitl_call(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == "tool_approval" and "name" in value


def _is_agent_inbox(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(
            isinstance(item, dict)
            and isinstance(item.get("action_request"), dict)
            and isinstance(item.get("config"), dict)
            for item in value
        )
    )


def _schema_branches(schema: Any) -> Iterator[dict[str, Any]]:
    """Every object schema in `schema` (its unions and `$defs` included)."""
    if not isinstance(schema, dict):
        return
    yield schema
    for key in ("oneOf", "anyOf", "allOf"):
        for branch in schema.get(key) or []:
            yield from _schema_branches(branch)
    for branch in (schema.get("$defs") or {}).values():
        yield from _schema_branches(branch)


def _decision_type(branch: dict[str, Any]) -> str | None:
    kind = (branch.get("properties") or {}).get("type") or {}
    if "const" in kind:
        return str(kind["const"])
    if isinstance(kind.get("enum"), list) and len(kind["enum"]) == 1:
        return str(kind["enum"][0])
    return None


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return dict((root.get("$defs") or {}).get(ref.split("/")[-1]) or {})
    return schema


def _per_call_policy(response_schema: Any) -> tuple[list[str], dict[str, Any] | None]:
    """The decisions a per-call `response_schema` allows, and the schema of an edit's args."""
    allowed: list[str] = []
    edit_args: dict[str, Any] | None = None
    for branch in _schema_branches(response_schema):
        kind = _decision_type(branch)
        if kind in ACTION_DECISIONS and kind not in allowed:
            allowed.append(kind)
        if kind == "edit":
            edited = _resolve((branch.get("properties") or {}).get("edited_action") or {}, response_schema)
            args = _resolve((edited.get("properties") or {}).get("args") or {}, response_schema)
            edit_args = args if args.get("properties") else None
    # No schema (or none we can read): the middleware's own default allows every decision.
    return (allowed or list(ACTION_DECISIONS)), edit_args


def describe(value: Any, schema: Any = None, tools: dict[str, dict[str, Any]] | None = None) -> InterruptShape:
    """Recognise an interrupt value's shape. `schema` is the interrupt's `response_schema` (a
    surfaced interrupt carries JSON Schema); `tools` maps a tool name to its args schema (from the
    graph's ToolNode), for the shapes whose value carries none."""
    response_schema = schema if isinstance(schema, dict) else None
    tools = tools or {}
    if isinstance(value, Breakpoint):
        return _breakpoint_shape(value)
    if _is_gate(value):
        return InterruptShape(GATE, value=None)
    if _is_hitl_batch(value):
        configs = {c.get("action_name"): c for c in value["review_configs"] if isinstance(c, dict)}
        actions = [
            _action(
                request["name"],
                request.get("args"),
                request.get("description"),
                (configs.get(request["name"]) or {}).get("allowed_decisions") or [],
                (configs.get(request["name"]) or {}).get("args_schema") or tools.get(request["name"]),
            )
            for request in value["action_requests"]
        ]
        return InterruptShape(HITL_BATCH, actions=actions)
    if _is_hitl_call(value):
        allowed, edit_schema = _per_call_policy(response_schema)
        action = _action(value["name"], value.get("args"), value.get("description"), allowed, edit_schema or tools.get(value["name"]))
        action["tool_call_id"] = str(value.get("tool_call_id") or "")
        return InterruptShape(HITL_CALL, actions=[action], response_schema=response_schema)
    if _is_agent_inbox(value):
        actions = []
        for item in value:
            request, config = item["action_request"], item["config"]
            name = request.get("action")
            allowed = [d for d, flag in _INBOX_FLAGS.items() if config.get(flag)]
            actions.append(_action(name, request.get("args"), item.get("description"), allowed, tools.get(str(name))))
        return InterruptShape(AGENT_INBOX, actions=actions)
    return InterruptShape(FREE_FORM, value=value, response_schema=response_schema)


def _hitl_decision(action: dict[str, Any], chosen: ActionDecision) -> dict[str, Any]:
    if chosen.decision == "approve":
        return {"type": "approve"}
    if chosen.decision == "edit":
        # The tool never changes: only its arguments are the reviewer's.
        return {"type": "edit", "edited_action": {"name": action["name"], "args": chosen.args or {}}}
    if chosen.decision == "reject":
        return {"type": "reject", "message": chosen.comment} if chosen.comment else {"type": "reject"}
    return {"type": "respond", "message": chosen.comment}


def _inbox_response(action: dict[str, Any], chosen: ActionDecision) -> dict[str, Any]:
    if chosen.decision == "approve":
        return {"type": "accept", "args": None}
    if chosen.decision == "edit":
        return {"type": "edit", "args": {"action": action["name"], "args": chosen.args or {}}}
    if chosen.decision == "respond":
        return {"type": "response", "args": chosen.comment}
    return {"type": "ignore", "args": None}


def resume_value(shape: InterruptShape, decisions: Sequence[ActionDecision], answer: Any = None) -> Any:
    """The value the agent resumes with, in its own shape: one decision per action, in order
    (checked by the caller against `allowed`), or a free-form interrupt's answer as given."""
    if shape.kind == FREE_FORM:
        return answer
    pairs = list(zip(shape.actions, decisions, strict=True))
    if shape.kind == HITL_BATCH:
        return {"decisions": [_hitl_decision(action, chosen) for action, chosen in pairs]}
    if shape.kind == HITL_CALL:
        return _hitl_decision(*pairs[0])
    if shape.kind == AGENT_INBOX:
        return [_inbox_response(action, chosen) for action, chosen in pairs]
    if shape.kind == BREAKPOINT:
        # Nothing goes into the graph: the worker continues it from the breakpoint (or stops it)
        # as this says (agents/engine/runtime.py).
        (_, chosen), = pairs
        return {"decision": "continue" if chosen.decision == "approve" else "stop", "comment": chosen.comment}
    raise ValueError(f"Steward's gate resumes with its own decision, not an adapter ({shape.kind})")


# The decision types of LangChain's middleware and of Agent Inbox, as Steward's decisions.
_HITL_TYPES = {"approve": "approve", "edit": "edit", "reject": "reject", "respond": "respond"}
_INBOX_TYPES = {"accept": "approve", "edit": "edit", "response": "respond", "ignore": "reject"}


class ResumeShapeError(ValueError):
    """A resume value that is not in the shape its interrupt expects."""


def _from_hitl(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict) or item.get("type") not in _HITL_TYPES:
        raise ResumeShapeError('each decision needs "type": approve, edit, reject or respond')
    edited = item.get("edited_action")
    args = edited.get("args") if isinstance(edited, dict) else None
    return {"decision": _HITL_TYPES[item["type"]], "args": args, "comment": str(item.get("message") or "")}


def _from_inbox(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict) or item.get("type") not in _INBOX_TYPES:
        raise ResumeShapeError('each response needs "type": accept, edit, response or ignore')
    given = item.get("args")
    args = given.get("args") if item["type"] == "edit" and isinstance(given, dict) else None
    comment = given if item["type"] == "response" and isinstance(given, str) else ""
    return {"decision": _INBOX_TYPES[item["type"]], "args": args, "comment": comment}


def decision_of_resume(shape: InterruptShape | None, value: Any) -> dict[str, Any]:
    """The reverse of `resume_value`: what a client resuming the interrupt itself sent (the
    LangGraph API's `Command(resume=...)`), as the keyword arguments of Steward's decision
    (approvals/services.py `decide`: decision, args, comment, reason_code, value, actions).
    For Steward's own gate (`shape` None) the value is the decision body of the approvals API.

    Raises:
        ResumeShapeError: the value is not in the shape the interrupt expects.
    """
    if shape is None or shape.kind == GATE:
        if not isinstance(value, dict) or not isinstance(value.get("decision"), str):
            raise ResumeShapeError('a gated action resumes with a decision: {"decision": "approve"} (or reject, edit, respond)')
        return {
            "decision": value["decision"],
            "args": value.get("args"),
            "comment": str(value.get("comment") or ""),
            "reason_code": str(value.get("reason_code") or ""),
        }
    if shape.kind == FREE_FORM:
        return {"decision": ANSWER, "value": value}
    if shape.kind == HITL_BATCH:
        if not isinstance(value, dict) or not isinstance(value.get("decisions"), list):
            raise ResumeShapeError('this interrupt resumes with {"decisions": [...]}, one per action')
        return {"decision": "", "actions": [_from_hitl(item) for item in value["decisions"]]}
    if shape.kind == HITL_CALL:
        return {"decision": "", "actions": [_from_hitl(value)]}
    if shape.kind == AGENT_INBOX:
        if not isinstance(value, list):
            raise ResumeShapeError("this interrupt resumes with a list of Agent Inbox responses, one per request")
        return {"decision": "", "actions": [_from_inbox(item) for item in value]}
    raise ResumeShapeError(f"unknown interrupt shape {shape.kind!r}")


def _args_schema(tool: Any) -> dict[str, Any]:
    schema = getattr(tool, "tool_call_schema", None)
    if isinstance(schema, dict):
        return schema
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_json_schema()
    return {}


def tool_args_schemas(graph: Any) -> dict[str, dict[str, Any]]:
    """Each tool of the graph's ToolNodes (a compiled graph or its builder): name → the JSON
    schema of the arguments a model (or a reviewer's edit) may pass it."""
    schemas: dict[str, dict[str, Any]] = {}
    for node in (getattr(graph, "nodes", None) or {}).values():
        runnable = getattr(node, "runnable", None) or getattr(node, "bound", None)
        if isinstance(runnable, ToolNode):
            for name, tool in runnable.tools_by_name.items():
                schemas[name] = _args_schema(tool)
    return schemas


# LangGraph's channel of the versions seen at the last stop (langgraph/_internal/_constants.py).
_INTERRUPT_CHANNEL = "__interrupt__"


def _updated_since_last_stop(checkpoint: dict[str, Any]) -> bool:
    """LangGraph stops at a breakpoint only if a channel changed since it last stopped (its
    `should_interrupt`): a run continued from a breakpoint does not stop there again."""
    versions = checkpoint.get("channel_versions") or {}
    seen = (checkpoint.get("versions_seen") or {}).get(_INTERRUPT_CHANNEL, {})
    null = type(next(iter(versions.values()), 0))()
    return any(version > seen.get(channel, null) for channel, version in versions.items())


def _stopping(nodes: Any, names: Sequence[str]) -> list[str]:
    if nodes == "*":
        return [n for n in names if not n.startswith("__")]
    return [n for n in names if n in (nodes or ())]


def static_breakpoint(graph: Any, snapshot: Any) -> Breakpoint | None:
    """The static breakpoint the graph (compiled, with its checkpointer) stops at in `snapshot`
    (its latest state), or None: nodes of `interrupt_before` about to run, or of
    `interrupt_after` that ran in the step that made this checkpoint, as LangGraph decides."""
    if snapshot.interrupts or not snapshot.next or snapshot.created_at is None:
        return None
    before, after = graph.interrupt_before_nodes, graph.interrupt_after_nodes
    if not before and not after:
        return None
    saved = graph.checkpointer.get_tuple(snapshot.config)
    if saved is None or not _updated_since_last_stop(saved.checkpoint):
        return None
    checkpoint_id = str(snapshot.config["configurable"].get("checkpoint_id") or saved.checkpoint["id"])
    step = (snapshot.metadata or {}).get("step")

    def stop(when: str, nodes: list[str]) -> Breakpoint:
        return Breakpoint(when, nodes, checkpoint_id, step if isinstance(step, int) else None)

    nodes = _stopping(before, [task.name for task in snapshot.tasks])
    if nodes:
        return stop("before", nodes)
    if after and snapshot.parent_config:
        ran = graph.get_state(snapshot.parent_config).tasks
        nodes = _stopping(after, [task.name for task in ran])
        if nodes:
            return stop("after", nodes)
    return None
