"""Prompt content: validating a template, finding its variables, building the LangChain template,
rendering it with typed variables, and a line diff of two versions.

Templates use f-string syntax (`{variable}`, `{{` for a literal brace). Jinja2 is not offered:
a template is edited in the browser and rendered on workers, and f-strings cannot run code.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from langchain_core.messages import BaseMessage, messages_from_dict
from langchain_core.prompts import BasePromptTemplate, ChatPromptTemplate, MessagesPlaceholder, PromptTemplate

__all__ = [
    "ROLES",
    "VARIABLE_TYPES",
    "TemplateErrors",
    "build_template",
    "check_content",
    "detect_variables",
    "render",
    "version_lines",
    "version_diff",
]

ROLES = ("system", "user", "assistant", "placeholder")
VARIABLE_TYPES = ("string", "number", "integer", "boolean", "messages")
MODEL_SETTING_KEYS: dict[str, type | tuple[type, ...]] = {"model": str, "temperature": (int, float), "max_tokens": int}
_LANGCHAIN_ROLE = {"system": "system", "user": "human", "assistant": "ai"}

Errors = list[dict[str, Any]]


class TemplateErrors(ValueError):
    """What is wrong with a template, as `[{"loc": [...], "msg": ...}]` (the API's 422 shape)."""

    def __init__(self, errors: Errors) -> None:
        super().__init__("; ".join(e["msg"] for e in errors))
        self.errors = errors


def _variables_of_text(text: str, loc: list[Any], errors: Errors) -> list[str]:
    try:
        names = PromptTemplate.from_template(text).input_variables
    except ValueError as exc:
        errors.append({"loc": loc, "msg": f"template syntax: {exc}"})
        return []
    if "" in names:
        errors.append({"loc": loc, "msg": "template syntax: empty braces {} (write {{}} for literal braces)"})
    return [n for n in names if n]


def detect_variables(kind: str, template: Any) -> tuple[dict[str, str], Errors]:
    """The variables a template uses (name → inferred type), and its syntax errors."""
    errors: Errors = []
    found: dict[str, str] = {}
    if kind == "text":
        if not isinstance(template, str):
            return {}, [{"loc": ["template"], "msg": "a text prompt's template is a string"}]
        for name in _variables_of_text(template, ["template"], errors):
            found[name] = "string"
        return found, errors
    if kind != "chat":
        return {}, [{"loc": ["kind"], "msg": "kind must be chat or text"}]
    if not isinstance(template, list) or not template:
        return {}, [{"loc": ["template"], "msg": "a chat prompt's template is a non-empty list of messages"}]
    for index, message in enumerate(template):
        loc: list[Any] = ["template", index]
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            errors.append({"loc": loc, "msg": f"each message needs a role: one of {', '.join(ROLES)}"})
            continue
        if message["role"] == "placeholder":
            placeholder = message.get("name")
            if not isinstance(placeholder, str) or not placeholder.isidentifier():
                errors.append({"loc": [*loc, "name"], "msg": "a placeholder needs a variable name (letters, digits, _)"})
            else:
                found[placeholder] = "messages"
            continue
        content = message.get("content")
        if not isinstance(content, str) or not content.strip():
            errors.append({"loc": [*loc, "content"], "msg": "a message needs some content"})
            continue
        for name in _variables_of_text(content, [*loc, "content"], errors):
            found.setdefault(name, "string")
    return found, errors


def check_content(
    kind: str,
    template: Any,
    variables: dict[str, str] | None,
    model_settings: dict[str, Any] | None,
    output_schema: Any,
) -> dict[str, str]:
    """Validate a version's content; return its typed variables (inferred where not given).

    Raises:
        TemplateErrors: bad syntax, a variable used but not declared, an unknown type or role,
            a model setting of the wrong type, an output schema that is not a JSON object.
    """
    found, errors = detect_variables(kind, template)
    if variables is None:
        typed = found
    else:
        typed = {}
        if not isinstance(variables, dict):
            errors.append({"loc": ["variables"], "msg": "variables map each name to a type"})
            variables = {}
        for name, kind_of in variables.items():
            if kind_of not in VARIABLE_TYPES:
                errors.append({"loc": ["variables", name], "msg": f"type must be one of {', '.join(VARIABLE_TYPES)}"})
            typed[name] = kind_of
        for name, inferred in found.items():
            if name not in typed:
                errors.append({"loc": ["variables", name], "msg": f"the template uses {{{name}}}, which is not defined"})
            elif inferred == "messages" and typed[name] != "messages":
                errors.append({"loc": ["variables", name], "msg": f"{name} is a placeholder: its type must be messages"})
    for key, value in (model_settings or {}).items():
        expected = MODEL_SETTING_KEYS.get(key)
        if expected is None:
            errors.append({"loc": ["model_settings", key], "msg": f"unknown model setting (use {', '.join(MODEL_SETTING_KEYS)})"})
        elif value is not None and (not isinstance(value, expected) or isinstance(value, bool)):
            errors.append({"loc": ["model_settings", key], "msg": f"{key} has the wrong type"})
    if output_schema is not None and not isinstance(output_schema, dict):
        errors.append({"loc": ["output_schema"], "msg": "the output schema is a JSON Schema object"})
    if errors:
        raise TemplateErrors(errors)
    return typed


def build_template(kind: str, template: Any, metadata: dict[str, Any] | None = None) -> BasePromptTemplate:
    """The LangChain template for stored content; `metadata` tags it so model spans name the version."""
    built: BasePromptTemplate
    if kind == "text":
        built = PromptTemplate.from_template(template)
    else:
        parts: list[Any] = []
        for message in template:
            if message["role"] == "placeholder":
                parts.append(MessagesPlaceholder(message["name"], optional=True))
            else:
                parts.append((_LANGCHAIN_ROLE[message["role"]], message["content"]))
        built = ChatPromptTemplate.from_messages(parts)
    if metadata:
        built.metadata = dict(metadata)
    return built


def _coerce(name: str, kind: str, value: Any, errors: Errors) -> Any:
    if kind == "messages":
        if value in (None, ""):
            return []
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                errors.append({"loc": ["variables", name], "msg": "messages are a JSON list"})
                return []
        if not isinstance(value, list):
            errors.append({"loc": ["variables", name], "msg": "messages are a JSON list"})
            return []
        if all(isinstance(m, BaseMessage) for m in value):
            return value
        try:
            return messages_from_dict(
                [m if "data" in m else {"type": m.get("type", m.get("role", "human")), "data": m} for m in value]
            )
        except (AttributeError, KeyError, TypeError, ValueError):
            errors.append({"loc": ["variables", name], "msg": "each message needs a type (human, ai, system) and content"})
            return []
    if kind in ("number", "integer"):
        try:
            number = float(value) if kind == "number" else int(str(value))
        except (TypeError, ValueError):
            errors.append({"loc": ["variables", name], "msg": f"{name} must be a{'n integer' if kind == 'integer' else ' number'}"})
            return value
        return number
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "false", "1", "0", "yes", "no"):
            return str(value).lower() in ("true", "1", "yes")
        errors.append({"loc": ["variables", name], "msg": f"{name} must be true or false"})
        return value
    return "" if value is None else str(value)


def render(kind: str, template: Any, variables: dict[str, str], values: dict[str, Any]) -> list[BaseMessage] | str:
    """Render with typed values (a missing value or a wrong type is an error, not a blank)."""
    errors: Errors = []
    coerced: dict[str, Any] = {}
    for name, kind_of in variables.items():
        if name not in values and kind_of != "messages":
            errors.append({"loc": ["variables", name], "msg": f"{name} is missing"})
            continue
        coerced[name] = _coerce(name, kind_of, values.get(name), errors)
    if errors:
        raise TemplateErrors(errors)
    built = build_template(kind, template)
    result = built.invoke(coerced)
    return result.to_string() if kind == "text" else result.to_messages()


def version_lines(kind: str, template: Any, variables: dict[str, str], model_settings: dict[str, Any]) -> list[str]:
    """A version as lines of text, for a readable diff."""
    lines: list[str] = []
    if kind == "text":
        lines += str(template).splitlines() or [""]
    else:
        for message in template:
            if message.get("role") == "placeholder":
                lines.append(f"[placeholder] {{{message.get('name')}}}")
                continue
            content = str(message.get("content", "")).splitlines() or [""]
            lines.append(f"[{message.get('role')}] {content[0]}")
            lines += content[1:]
    lines.append("")
    lines += [f"variable {name}: {kind_of}" for name, kind_of in sorted(variables.items())]
    lines += [f"model {key}: {value}" for key, value in sorted((model_settings or {}).items())]
    return lines


def version_diff(a: list[str], b: list[str]) -> list[dict[str, Any]]:
    """Side-by-side rows: {"op": "equal"|"replace"|"delete"|"insert", "left": str|None, "right": str|None}."""
    rows: list[dict[str, Any]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        left, right = a[i1:i2], b[j1:j2]
        for k in range(max(len(left), len(right))):
            rows.append(
                {
                    "op": op,
                    "left": left[k] if k < len(left) else None,
                    "right": right[k] if k < len(right) else None,
                }
            )
    return rows
