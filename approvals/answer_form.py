"""The answer form of an interrupt in no known shape: fields generated from its `response_schema`.

An object's properties become labelled fields (a string a text box, an enum or const a select, a
boolean a checkbox, a number a number box, an object one level down a fieldset of its own, anything
else a JSON box); a oneOf/anyOf of objects told apart by a `type` const becomes one fieldset per
variant, chosen with a radio (it works without JavaScript). A schema that is not an object is one
field. The post is assembled back into the JSON value here, checked against the schema, and
refused with each message next to its field; what was typed is shown again.

Field names: `answer.<path>` (a variant's: `answer.v<i>.<path>`, the chosen one in
`answer_variant`); the schema's root when it is not an object is `answer`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

__all__ = ["AnswerForm", "Field", "assemble", "build", "json_answer"]

# A nested object deeper than this is one JSON box: the form stays readable.
MAX_DEPTH = 2
# A string allowed longer than this is a textarea.
LONG_TEXT = 120


@dataclass
class Field:
    """One field of the form, ready for the template (templates/approvals/partials/_answer_field.html)."""

    name: str  # what it posts
    label: str
    widget: str  # text, textarea, select, checkbox, number, json, group
    required: bool = False
    help: str = ""
    value: Any = ""  # as typed, or the default
    options: list[str] = field(default_factory=list)
    step: str = "any"
    error: str = ""
    children: list[Field] = field(default_factory=list)

    @property
    def id(self) -> str:
        return "af-" + self.name.replace(".", "-")


@dataclass
class Variant:
    index: int
    label: str
    tag: str  # the value of its `type` const
    fields: list[Field]
    chosen: bool = False


@dataclass
class AnswerForm:
    """What the answer form shows: generated fields or variants when the schema allows, and the JSON box."""

    fields: list[Field] = field(default_factory=list)
    variants: list[Variant] = field(default_factory=list)
    json_text: str = ""  # the JSON box's content
    json_hint: str = ""
    json_error: str = ""
    error: str = ""  # a problem no field shows
    mode: str = "form"  # which alternative was used last: "form" or "json"

    @property
    def generated(self) -> bool:
        return bool(self.fields or self.variants)


# --- the schema, read -------------------------------------------------------------------------


def _resolve(schema: Any, root: dict[str, Any]) -> dict[str, Any]:
    """A local `$ref` (`#/$defs/x`, `#/definitions/x`) replaced by what it points at."""
    if not isinstance(schema, dict):
        return {}
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return _resolve(target, root)
    return schema


def _tag(branch: dict[str, Any]) -> str | None:
    """A variant's `type` const (or one-value enum), which tells it apart."""
    prop = (branch.get("properties") or {}).get("type") or {}
    if "const" in prop:
        return str(prop["const"])
    if isinstance(prop.get("enum"), list) and len(prop["enum"]) == 1:
        return str(prop["enum"][0])
    return None


def _variants(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The branches of a oneOf/anyOf when each is an object with its own `type` const; else none."""
    branches = schema.get("oneOf") or schema.get("anyOf")
    if not isinstance(branches, list):
        return []
    resolved = [_resolve(b, schema) for b in branches]
    if resolved and all(b.get("type", "object") == "object" and _tag(b) is not None for b in resolved):
        return resolved
    return []


def _is_object(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "object" and isinstance(schema.get("properties"), dict)


def _order(schema: dict[str, Any]) -> list[str]:
    # Postgres jsonb does not keep key order; `required` is a list: required fields first.
    required = list(schema.get("required") or [])
    properties = schema.get("properties") or {}
    return sorted(properties, key=lambda n: (required.index(n) if n in required else len(required), n))


def _widget(prop: dict[str, Any], depth: int) -> str:
    kind = prop.get("type")
    if "const" in prop or isinstance(prop.get("enum"), list):
        return "select"
    if kind == "boolean":
        return "checkbox"
    if kind in ("integer", "number"):
        return "number"
    if kind == "string":
        return "textarea" if prop.get("maxLength", 0) > LONG_TEXT or prop.get("format") == "textarea" else "text"
    if _is_object(prop) and depth < MAX_DEPTH:
        return "group"
    return "json"


def _help(prop: dict[str, Any]) -> str:
    parts = [str(prop["description"])] if prop.get("description") else []
    for key, words in (("minimum", "at least"), ("maximum", "at most"), ("minLength", "at least"), ("maxLength", "up to")):
        if key in prop:
            unit = "" if "Length" not in key else " character" if prop[key] == 1 else " characters"
            parts.append(f"{words} {prop[key]}{unit}")
    if "pattern" in prop:
        parts.append(f"matches {prop['pattern']}")
    return "; ".join(parts)


def _shown(value: Any, widget: str) -> Any:
    """A value (typed or default) as its field shows it."""
    if widget == "json":
        return value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
    if widget == "checkbox":
        return value in (True, "on", "true", "1")
    return "" if value is None else str(value) if not isinstance(value, str) else value


def _fields(schema: dict[str, Any], root: dict[str, Any], prefix: str, typed: dict[str, str] | None, errors: dict[str, str], depth: int) -> list[Field]:
    required = set(schema.get("required") or [])
    out = []
    for name in _order(schema):
        prop = _resolve(schema["properties"][name], root)
        out.append(_field(prop, root, f"{prefix}.{name}", name, name in required, typed, errors, depth))
    return out


def _field(prop: dict[str, Any], root: dict[str, Any], path: str, label: str, required: bool, typed: dict[str, str] | None, errors: dict[str, str], depth: int) -> Field:
    widget = _widget(prop, depth)
    made = Field(name=path, label=str(prop.get("title") or label), widget=widget, required=required, help=_help(prop), error=errors.get(path, ""))
    if widget == "group":
        made.children = _fields(prop, root, path, typed, errors, depth + 1)
        return made
    if widget == "select":
        made.options = [str(o) for o in (prop["enum"] if "enum" in prop else [prop["const"]])]
    made.step = "1" if prop.get("type") == "integer" else "any"
    if typed is not None:
        made.value = _shown(typed.get(path, ""), widget)
    elif "default" in prop:
        made.value = _shown(prop["default"], widget)
    elif widget == "json":
        made.value = "[]" if prop.get("type") == "array" else "{}" if prop.get("type") == "object" else ""
    return made


def _example(schema: dict[str, Any]) -> Any:
    """What the JSON box starts with: the schema's default, else its first variant's tag, else an
    empty value of its type."""
    if "default" in schema:
        return schema["default"]
    variants = _variants(schema)
    if variants:
        return {"type": _tag_value(variants[0])}
    return {"object": {}, "array": [], "string": "", "boolean": False, "integer": 0, "number": 0}.get(str(schema.get("type", "object")), {})


def _tag_value(branch: dict[str, Any]) -> Any:
    prop = branch["properties"]["type"]
    return prop["const"] if "const" in prop else prop["enum"][0]


def build(schema: Any, typed: dict[str, str] | None = None, errors: dict[str, str] | None = None) -> AnswerForm:
    """The form for `schema` (an interrupt's response_schema, or None), with what was typed
    (`typed`, the posted strings by field name) and the errors by field name."""
    errors = errors or {}
    if not isinstance(schema, dict) or not schema:
        return AnswerForm(json_text="{}", json_hint='Any JSON: an object {"key": "value"}, a list [1, 2], text in quotes "yes", a number, true or null.')
    form = AnswerForm(json_text=json.dumps(_example(schema), indent=2), json_hint="JSON that fits the expected answer's schema (shown above).")
    chosen = (typed or {}).get("answer_variant", "0")
    variants = _variants(schema)
    if variants:
        form.variants = [
            Variant(i, str(b.get("title") or _tag(b)), str(_tag(b)),
                    [f for f in _fields(b, schema, f"answer.v{i}", typed, errors, 1) if f.name != f"answer.v{i}.type"], chosen == str(i))
            for i, b in enumerate(variants)
        ]
    elif _is_object(schema):
        form.fields = _fields(schema, schema, "answer", typed, errors, 1)
    elif schema.get("type") in ("string", "integer", "number", "boolean") or "enum" in schema or "const" in schema:
        form.fields = [_field(schema, schema, "answer", str(schema.get("title") or "Answer"), True, typed, errors, 1)]
    return form


# --- the post, assembled ----------------------------------------------------------------------


class _Unparsed(ValueError):
    pass


def _read(prop: dict[str, Any], widget: str, raw: str) -> Any:
    kind = prop.get("type")
    if widget == "select":
        # An enum of numbers or booleans: the option's text back to the value it stands for.
        for option in prop["enum"] if "enum" in prop else [prop["const"]]:
            if str(option) == raw:
                return option
        return raw
    if widget == "number":
        try:
            return int(raw) if kind == "integer" else float(raw)
        except ValueError:
            raise _Unparsed("must be a whole number" if kind == "integer" else "must be a number") from None
    if widget == "json":
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise _Unparsed(f"not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})") from None  # type: ignore[attr-defined]
    return raw


def _collect(fields: list[Field], schema: dict[str, Any], root: dict[str, Any], post: Any, errors: dict[str, str]) -> dict[str, Any]:
    value: dict[str, Any] = {}
    properties = schema.get("properties") or {}
    for f in fields:
        key = f.name.rsplit(".", 1)[-1]
        prop = _resolve(properties.get(key, {}), root)
        if f.widget == "group":
            inner = _collect(f.children, prop, root, post, errors)
            if inner or f.required:
                value[key] = inner
            continue
        if f.widget == "checkbox":
            value[key] = post.get(f.name) in ("on", "true", "1")
            continue
        raw = post.get(f.name, "")
        if raw.strip() == "":
            continue  # left empty: absent (the schema says whether it may be)
        try:
            value[key] = _read(prop, f.widget, raw)
        except _Unparsed as exc:
            errors[f.name] = str(exc)
    return value


def _field_errors(schema: dict[str, Any], value: Any, prefix: str) -> tuple[dict[str, str], list[str]]:
    """The schema's complaints about `value`: by field name, and those no field shows."""
    by_field: dict[str, str] = {}
    others: list[str] = []
    for e in Draft202012Validator(schema).iter_errors(value):
        path = [str(p) for p in e.absolute_path]
        if e.validator == "required" and isinstance(e.instance, dict):
            for missing in e.validator_value:
                if missing not in e.instance:
                    by_field.setdefault(".".join([prefix, *path, missing]), "required")
            continue
        if path or not _is_object(schema):
            by_field.setdefault(".".join([prefix, *path]), e.message)
        else:
            others.append(e.message)
    return by_field, others


def _names(fields: list[Field]) -> set[str]:
    return {f.name for f in fields} | {n for f in fields for n in _names(f.children)}


def _placed(errors: dict[str, str], names: set[str]) -> tuple[dict[str, str], list[str]]:
    """Each error on its field, or the nearest enclosing one (an item of a JSON list is its box);
    an error no field encloses is returned as text."""
    placed: dict[str, str] = {}
    unplaced: list[str] = []
    for key, message in errors.items():
        parts = key.split(".")
        while parts and ".".join(parts) not in names:
            parts.pop()
        if parts:
            placed.setdefault(".".join(parts), message if ".".join(parts) == key else f"{key.split('.', 1)[-1]}: {message}")
        else:
            unplaced.append(f"{key}: {message}")
    return placed, unplaced


def others_of(text: str) -> list[str]:
    return [text] if text else []


def assemble(schema: dict[str, Any], post: Any) -> tuple[Any, AnswerForm]:
    """The JSON value the form posted, and the form to show again (its errors filled in when the
    value does not fit the schema: then `form.error` or a field's `error` is set)."""
    typed = {k: v for k, v in post.items() if k.startswith("answer.") or k in ("answer", "answer_variant")}
    form = build(schema, typed)
    errors: dict[str, str] = {}
    if form.variants:
        index = int(typed.get("answer_variant", "0")) if typed.get("answer_variant", "0").isdigit() else 0
        variants = _variants(schema)
        if index >= len(variants):
            form.error = "choose one of the answers"
            return None, form
        branch = {**variants[index], "$defs": schema.get("$defs", {}), "definitions": schema.get("definitions", {})}
        prefix = f"answer.v{index}"
        value: Any = {"type": _tag_value(branch), **_collect(form.variants[index].fields, branch, schema, post, errors)}
        checked_against = branch
    elif _is_object(schema):
        prefix, checked_against = "answer", schema
        value = _collect(form.fields, schema, schema, post, errors)
    else:
        prefix, checked_against = "answer", schema
        only = form.fields[0]
        raw = post.get("answer", "")
        value = None
        if only.widget == "checkbox":
            value = raw in ("on", "true", "1")
        elif raw.strip():
            try:
                value = _read(schema, only.widget, raw)
            except _Unparsed as exc:
                errors["answer"] = str(exc)
        else:
            errors["answer"] = "required"
    # The schema is asked even when a field did not parse, so every problem shows at once; a
    # field's own parse error comes first.
    schema_errors, others = _field_errors(checked_against, value, prefix)
    if not errors and not schema_errors and not others and checked_against is not schema:
        schema_errors, others = _field_errors(schema, value, "answer")  # the variant fits; the whole schema too
    errors = {**schema_errors, **errors}
    form.error = "; ".join(others)
    if errors or form.error:
        errors, unplaced = _placed(errors, _names(form.fields + [f for v in form.variants for f in v.fields]))
        form = build(schema, typed, errors)
        form.error = "; ".join(filter(None, [*others_of(form.error), *unplaced]))
        form.error = form.error or ""
        return None, form
    return value, form


def json_answer(schema: Any, raw: str) -> tuple[Any, AnswerForm]:
    """The JSON box's answer; a form showing it again with the error when it is not JSON or does
    not fit the schema (value None then)."""
    form = build(schema)
    form.mode, form.json_text = "json", raw
    if not raw.strip():
        form.json_error = "type an answer: any JSON value (text in double quotes)"
        return None, form
    try:
        value = json.loads(raw)
    except ValueError as exc:
        form.json_error = f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}. Text goes in double quotes: \"like this\"."  # type: ignore[attr-defined]
        return None, form
    if isinstance(schema, dict) and schema:
        problems = [f"{'/'.join(map(str, e.absolute_path)) or 'answer'}: {e.message}" for e in Draft202012Validator(schema).iter_errors(value)]
        if problems:
            form.json_error = "; ".join(problems)
            return None, form
    return value, form
