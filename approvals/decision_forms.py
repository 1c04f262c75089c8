"""What the decision page (approvals/views.py `approval_decide`) posts, read into plain values.

A decision is approve, reject, respond or edit, with a comment and, for a rejection, a reason
code. An edit also posts the arguments as typed (`arg_<name>`, one per property of the request's
schema): they are parsed to the schema's types, redacted values left as shown are restored, and
the result is checked against the schema before the reviewer is shown the change to confirm.

An interrupt in another shape (agents/engine/interrupts.py) posts "answer": the fields generated
from its `response_schema` (`answer_mode=form`, approvals/answer_form.py), or the JSON box
(`value`, strict JSON); either is checked against the schema before the agent is resumed. Or, with several actions, "actions" with `action_<i>_decision`,
`action_<i>_comment` and `action_<i>_args` (JSON) for each action in order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

from approvals import answer_form, inbox
from approvals.models import ApprovalRequest
from approvals.services import schema_errors
from approvals.shown_args import restore
from console.kernel.errors import Invalid

__all__ = ["DecisionForm"]


@dataclass
class DecisionForm:
    decision: str
    comment: str
    reason_code: str
    # The arguments as typed (edits only), to show again when the decision is refused.
    values: dict[str, str] = field(default_factory=dict)
    # The typed arguments to approve (edits only; None for every other decision).
    args: dict[str, Any] | None = None
    # Field errors by argument name.
    errors: dict[str, str] = field(default_factory=dict)
    # A free-form interrupt's answer; a batched interrupt's decisions, one per action.
    value: Any = None
    actions: list[dict[str, Any]] | None = None
    # The answer form to show again when an answer is refused (what was typed, the errors).
    answer: answer_form.AnswerForm | None = None

    @classmethod
    def from_post(cls, post: QueryDict, approval: ApprovalRequest) -> DecisionForm:
        decision = post.get("decision", "")
        form = cls(
            decision=decision,
            comment=post.get("comment", "").strip(),
            reason_code=post.get("reason_code", "") if decision == "reject" else "",
        )
        if form.is_edit:
            properties = (approval.args_schema or {}).get("properties", {})
            form.values = {name: post.get(f"arg_{name}", "") for name in properties}
        if decision == "answer":
            schema = approval.shape.response_schema
            if post.get("answer_mode") == "form":
                form.value, form.answer = answer_form.assemble(schema or {}, post)
            else:
                form.value, form.answer = answer_form.json_answer(schema, post.get("value", ""))
        if decision == "actions":
            form.actions = [
                {
                    "decision": post.get(f"action_{i}_decision", ""),
                    "comment": post.get(f"action_{i}_comment", "").strip(),
                    "args": _json_or_text(post.get(f"action_{i}_args", "")) if post.get(f"action_{i}_decision") == "edit" else None,
                }
                for i in range(len(approval.shape.actions))
            ]
        return form

    @property
    def is_edit(self) -> bool:
        return self.decision == "edit"

    @property
    def typed(self) -> dict[str, str]:
        """What the page keeps when a decision is refused."""
        return {"decision": self.decision, "comment": self.comment, "reason_code": self.reason_code}

    def read_args(self, approval: ApprovalRequest, post: QueryDict) -> Invalid | None:
        """An edit's arguments, typed and checked against the request's schema into `args`.

        Returns:
            None when they fit the schema; otherwise the refusal to show, its field errors in
            `errors`.
        """
        schema = approval.args_schema or {}
        args, parse_errors = inbox.parse_edit(schema, post)
        self.args = restore(args, approval.proposed_args)
        if parse_errors:
            self.errors = parse_errors
            return Invalid([{"loc": ["args", name], "msg": msg} for name, msg in parse_errors.items()])
        problems = schema_errors(schema, self.args, approval.action)
        if problems:
            self.errors = {str(e["loc"][-1]): e["msg"] for e in problems if len(e["loc"]) > 2}
            return Invalid(problems)
        return None

    def answer_refused(self) -> Invalid | None:
        """The answer's refusal when its fields or JSON did not parse or fit the schema."""
        if self.decision != "answer" or self.answer is None or self.value is not None:
            return None
        problems = [{"loc": ["body", *_shown_path(name)], "msg": msg} for name, msg in self._answer_errors().items()]
        return Invalid(problems or [{"loc": ["body", "value"], "msg": "the answer does not fit"}])

    def _answer_errors(self) -> dict[str, str]:
        assert self.answer is not None
        found = {f.name: f.error for f in _all_fields(self.answer) if f.error}
        if self.answer.error:
            found["answer"] = self.answer.error
        if self.answer.json_error:
            found["value"] = self.answer.json_error
        return found

    def answer_context(self) -> dict[str, Any]:
        """What the page needs to show the answer form again as it was posted."""
        return {"answer_form": self.answer} if self.answer is not None else {}

    def take_errors(self, exc: Invalid) -> None:
        """The decision service's field errors (those naming an argument) as the form's."""
        self.errors = {
            str(e["loc"][-1]): e["msg"] for e in exc.detail if isinstance(e, dict) and len(e.get("loc", [])) > 2
        }

    def edit_context(self) -> dict[str, Any]:
        """What the decision page needs to show the edit form again, open when this was an edit."""
        return {
            "edit_values": self.values if self.is_edit else None,
            "edit_errors": self.errors,
            "edit_open": self.is_edit,
        }


def _shown_path(name: str) -> list[str]:
    """A field's name as the reviewer knows it: `answer.v1.guest.name` is `guest.name`."""
    parts = name.split(".")[1:]
    if parts and parts[0][:1] == "v" and parts[0][1:].isdigit():
        parts = parts[1:]
    return parts or ["answer"]


def _all_fields(form: answer_form.AnswerForm) -> list[answer_form.Field]:
    fields = form.fields + [f for v in form.variants for f in v.fields]
    return fields + [c for f in fields for c in f.children]


def _json_or_text(raw: str) -> Any:
    """What a reviewer typed: JSON when it parses, else the text itself; nothing typed is None."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw
