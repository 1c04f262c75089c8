"""The gate agent code calls before a gated action, and the tool decorator built on it.

The gate calls LangGraph's `interrupt()` with the gate payload; the run stops, an approval
request waits in the named queue, and no worker waits for a person. On resume the node runs
again from its first line and `interrupt()` returns the reviewer's decision. So nothing with a
side effect may happen before the gate in the same node, and a node has one gate.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Literal

from langchain_core.callbacks.manager import dispatch_custom_event
from langchain_core.tools import BaseTool, StructuredTool, create_schema_from_function
from langgraph.config import get_config
from langgraph.types import interrupt
from pydantic import BaseModel

from agents.engine.ledger import args_hash, run_once
from agents.engine.off_loop import off_the_loop
from agents.engine.tools import current_tool_call_id
from approvals import approved_now
from approvals.models import ApprovalRequest
from approvals.services import record_automatic_approval
from console.kernel.display import amount_currency, format_amount
from traces.recording.recorder import GATE_EVENT

__all__ = [
    "GateError",
    "args_hash",
    "condition_holds",
    "current_tool_call_id",
    "gated_tool",
    "require_approval",
]

_CONDITION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|==|!=|>|<)\s*(.+?)\s*$")


class GateError(RuntimeError):
    """The resume value does not match what was approved: the action must not run."""


def parse_condition(condition: str) -> tuple[str, str, Any]:
    """`"amount > 100"` → ("amount", ">", 100). The right side is a JSON literal."""
    match = _CONDITION.match(condition)
    if not match:
        raise ValueError(f"condition must look like 'field > 100', not {condition!r}")
    field, op, literal = match.groups()
    try:
        value = json.loads(literal)
    except json.JSONDecodeError:
        raise ValueError(f"condition value must be a JSON literal, not {literal!r}") from None
    return field, op, value


def condition_holds(condition: str, args: dict[str, Any]) -> bool:
    field, op, value = parse_condition(condition)
    actual = args.get(field)
    if actual is None:
        return True  # Unknown means gated: never let a missing field skip the review.
    compare: dict[str, Callable[[Any, Any], bool]] = {
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        "==": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
    }
    try:
        return compare[op](actual, value)
    except TypeError:
        return True


def require_approval(
    *,
    queue: str,
    action: str,
    args: dict[str, Any],
    args_schema: dict[str, Any] | None = None,
    summary: str = "",
    tool_call_id: str = "",
    condition: str | None = None,
) -> dict[str, Any]:
    """Stop the run until a reviewer decides; returns the resume value.

    Args:
        queue: name of the approval queue.
        action: what would run, usually the tool name.
        args: the proposed arguments.
        args_schema: JSON schema of the arguments (reviewers edit against it).
        summary: one line a reviewer reads first.
        tool_call_id: the model's tool call this gates.
        condition: e.g. ``"amount > 100"``; when it does not hold, no review is needed.

    Returns:
        ``{decision, args, comment, reason_code, approval_id, decided_by}``; on approve, run the
        action with ``args`` (they may have been edited), never with the proposal; on
        "respond", pass the reviewer's ``comment`` back to the agent instead of acting.
    """
    if condition and not condition_holds(condition, args):
        return _automatic_approval(queue, action, args, summary, tool_call_id, condition)
    payload: dict[str, Any] = {
        "queue": queue,
        "action": action,
        "args": args,
        "args_schema": args_schema or {},
        "summary": summary,
        "tool_call_id": tool_call_id,
    }
    if condition:
        payload["condition"] = condition
    dispatch_custom_event(GATE_EVENT, {"phase": "requested", "payload": payload})
    value = interrupt(payload)
    _check_resume_value(value)
    dispatch_custom_event(GATE_EVENT, {"phase": "decided", "resume": value})
    return value


def _automatic_approval(
    queue: str, action: str, args: dict[str, Any], summary: str, tool_call_id: str, condition: str
) -> dict[str, Any]:
    """Below its condition an action passes, with an approval recorded as automatic."""

    configurable = get_config().get("configurable", {})
    rule = f"condition {condition!r} does not hold"
    request = off_the_loop(
        record_automatic_approval,
        configurable.get("steward_run_id"),
        key=tool_call_id or args_hash([action, args]),
        queue=queue,
        action=action,
        args=args,
        summary=summary,
        tool_call_id=tool_call_id,
        rule=rule,
    )
    return {
        "decision": "approve",
        "args": args,
        "comment": rule,
        "reason_code": "",
        "approval_id": str(request.id),
        "decided_by": "condition",
    }


def _check_resume_value(value: Any) -> None:

    if not isinstance(value, dict) or value.get("decision") not in ("approve", "reject", "respond"):
        raise GateError(f"resume value is not a decision: {value!r}")
    if value["decision"] != "approve":
        return
    approval_id = value.get("approval_id")
    # Read as approved by this execution already (approved_now.py), or from the database.
    approved_hash = approved_now.approved_args_hash(str(approval_id)) if approval_id else None
    if approved_hash is None:
        request = off_the_loop(ApprovalRequest.objects.filter(id=approval_id).first) if approval_id else None
        if request is None or request.status != ApprovalRequest.Status.APPROVED:
            raise GateError(f"approval {value.get('approval_id')} is not approved")
        approved_hash = request.approved_args_hash
    if args_hash(value.get("args")) != approved_hash:
        raise GateError("arguments differ from the approved ones: the action will not run")


def _summary_args(proposed: dict[str, Any], json_schema: dict[str, Any]) -> dict[str, Any]:
    """The arguments as a summary shows them: a decimal number (an amount, as the schema types
    it) with two decimals and the currency the schema declares for it, "250.00 USD" not "250.0"."""
    return {
        name: format_amount(value, amount_currency(json_schema, name)) if isinstance(value, float) else value
        for name, value in proposed.items()
    }


def gated_tool(
    *,
    queue: str,
    summary: str = "",
    condition: str | None = None,
    business_key: Callable[[dict[str, Any]], str] | None = None,
    changed_args: Literal["refuse", "new_action"] = "refuse",
    currencies: dict[str, str] | None = None,
) -> Callable[[Callable[..., Any]], BaseTool]:
    """Make a function a tool that runs only after approval, once, through the ledger.

    Args:
        queue: the approval queue.
        summary: a format string over the arguments, e.g. ``"Refund {amount} on {order_id}"``.
        condition: gate only when it holds, e.g. ``"amount > 100"``.
        business_key: the side effect's own key (e.g. ``lambda a: f"refund:{a['order_id']}"``);
            without one the key is the root run, the action and the arguments' hash.
        changed_args: an approved call whose business key was already done with other
            arguments: "refuse" (the call fails with `ArgumentsChanged`, which the agent reads
            as the tool's error) or "new_action" (each set of arguments runs once).
        currencies: the currency of each amount argument, e.g. ``{"amount": "USD"}``: written into
            the arguments' schema (``"currency"``), so summaries and pages show "250.00 USD".

    Returns:
        A LangChain tool. On rejection it returns ``"rejected: <reason_code>: <comment>"``.
    """

    def decorator(fn: Callable[..., Any]) -> BaseTool:

        action = fn.__name__
        schema_model = create_schema_from_function(action, fn)
        # A pydantic v1 model only comes from v1-annotated functions, which gated tools are not.
        assert issubclass(schema_model, BaseModel)
        json_schema = schema_model.model_json_schema()
        for name, currency in (currencies or {}).items():
            json_schema["properties"][name]["currency"] = currency

        def gated(**kwargs: Any) -> Any:
            proposed = schema_model(**kwargs).model_dump(mode="json")
            decision = require_approval(
                queue=queue,
                action=action,
                args=proposed,
                args_schema=json_schema,
                summary=summary.format(**_summary_args(proposed, json_schema)) if summary else action,
                tool_call_id=current_tool_call_id.get(),
                condition=condition,
            )
            if decision["decision"] == "respond":
                # The reviewer answered instead of deciding: the agent reads it and may propose again.
                return f"reviewer responded: {decision.get('comment') or ''}"
            if decision["decision"] != "approve":
                return f"rejected: {decision.get('reason_code') or 'rejected'}: {decision.get('comment') or ''}"
            approved_model = schema_model(**decision["args"])
            approved = approved_model.model_dump()
            configurable = get_config().get("configurable", {})
            key = (
                business_key(decision["args"])
                if business_key
                else f"{configurable.get('steward_root_run_id', '')}:{action}:{args_hash(decision['args'])}"
            )
            result, _ = off_the_loop(
                run_once,
                key=key,
                action=action,
                # Typed by the schema, so an edit's 120 and a proposal's 120.0 are the same action.
                args=approved_model.model_dump(mode="json"),
                run_id=configurable.get("steward_run_id"),
                effect=lambda: fn(**approved),
                changed_args=changed_args,
            )
            return result

        return StructuredTool.from_function(
            func=gated, name=action, description=fn.__doc__ or action, args_schema=schema_model
        )

    return decorator
