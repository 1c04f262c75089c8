"""What the prompt pages' forms post, read into plain values (the services check the content).

The editor posts one row per chat message as aligned repeated fields (`role`, `content`,
`placeholder`: every row submits all three, so `getlist` keeps them in step), or `text` for a
text prompt; the variable list posts aligned `var_name` / `var_type`. Parsing never raises: what
cannot be read becomes a field error in the API's shape (`{"loc", "msg"}`) and the typed text is
kept, so a page can show it again.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

from agents.prompts.models import PromptVersion
from agents.prompts.templates import ROLES, detect_variables

__all__ = [
    "EditorForm",
    "LabelMoveForm",
    "MessageRow",
    "PlaygroundForm",
    "editor_from_post",
    "editor_from_version",
    "int_or_none",
    "place_errors",
    "removed_variables",
    "service_errors",
    "variable_rows",
]

Errors = list[dict[str, Any]]

# Textareas grow with their text, within reason (the script keeps them growing as one types).
MIN_ROWS, MAX_ROWS = 3, 24


def int_or_none(value: Any) -> int | None:
    try:
        return int(str(value).strip().lstrip("vV"))
    except (TypeError, ValueError):
        return None


@dataclass
class MessageRow:
    role: str = "user"
    content: str = ""
    name: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return max(MIN_ROWS, min(MAX_ROWS, self.content.count("\n") + 2))


@dataclass
class EditorForm:
    """The editor's values as typed (strings where the user typed them), and what was wrong."""

    kind: str = "chat"
    rows: list[MessageRow] = field(default_factory=lambda: [MessageRow("system")])
    text: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    model: str = ""
    temperature: str = ""
    max_tokens: str = ""
    output_schema: str = ""
    message: str = ""
    base: int | None = None
    errors: Errors = field(default_factory=list)

    @property
    def text_rows(self) -> int:
        return max(MIN_ROWS * 2, min(MAX_ROWS, self.text.count("\n") + 2))

    def template(self) -> Any:
        if self.kind == "text":
            return self.text
        return [
            {"role": "placeholder", "name": row.name.strip()} if row.role == "placeholder"
            else {"role": row.role, "content": row.content}
            for row in self.rows
        ]

    def model_settings(self) -> dict[str, Any]:
        """The settings that were given; a value that is not a number is a field error."""
        settings: dict[str, Any] = {}
        if self.model.strip():
            settings["model"] = self.model.strip()
        if self.temperature.strip():
            try:
                # "0" stays the integer 0: the content hash of an unchanged version stays the same.
                text = self.temperature.strip()
                settings["temperature"] = int(text) if re.fullmatch(r"-?\d+", text) else float(text)
            except ValueError:
                self.errors.append({"loc": ["model_settings", "temperature"], "msg": "temperature is a number, e.g. 0.2"})
        if self.max_tokens.strip():
            try:
                settings["max_tokens"] = int(self.max_tokens)
            except ValueError:
                self.errors.append({"loc": ["model_settings", "max_tokens"], "msg": "max tokens is a whole number"})
        return settings

    def parsed_output_schema(self) -> Any:
        if not self.output_schema.strip():
            return None
        try:
            return json.loads(self.output_schema)
        except json.JSONDecodeError as exc:
            self.errors.append({"loc": ["output_schema"], "msg": f"the output schema is not JSON: {exc.msg} (line {exc.lineno})"})
            return None

    def detected(self) -> tuple[dict[str, str], Errors]:
        return detect_variables(self.kind, self.template())

    def typed_variables(self) -> dict[str, str]:
        """The posted types of the variables the template still uses (a removed one is dropped)."""
        found, _ = self.detected()
        return {name: kind for name, kind in self.variables.items() if name in found}

    def content(self) -> dict[str, Any]:
        """The version to save, as the services' keyword arguments; what cannot be read (a
        setting, the output schema) goes to `errors`, so check them before saving."""
        return {
            "template": self.template(),
            "variables": self.typed_variables(),
            "model_settings": self.model_settings(),
            "output_schema": self.parsed_output_schema(),
            "message": self.message,
        }

    def apply_row_action(self, action: str) -> bool:
        """Without JavaScript, "Add a message" and "Remove" are submit buttons (`row_action`):
        apply one to the rows; True when the post was such a button, not a save."""
        if action == "add":
            self.rows.append(MessageRow("user"))
            return True
        if action.startswith("remove-"):
            index = int_or_none(action.removeprefix("remove-"))
            if index is not None and 0 <= index < len(self.rows) and len(self.rows) > 1:
                self.rows.pop(index)
            return True
        return False

    def rebase(self, conflict: dict[str, Any]) -> int | None:
        """After a stale save, the version saved meanwhile (the `Conflict` detail's `latest`)
        becomes the base, so the next save is checked against it; returns the old base."""
        stale_base, self.base = self.base, int(conflict["latest"]["number"])
        return stale_base


def editor_from_version(version: PromptVersion | None, kind: str = "chat") -> EditorForm:
    """The editor filled with a version's content (a blank system message for a new prompt)."""
    if version is None:
        return EditorForm(kind=kind, rows=[MessageRow("system")], text="")
    settings = version.model_settings or {}
    rows = [
        MessageRow("placeholder", name=str(m.get("name", ""))) if m.get("role") == "placeholder"
        else MessageRow(str(m.get("role", "user")), content=str(m.get("content", "")))
        for m in (version.template if version.kind == "chat" else [])
    ]
    return EditorForm(
        kind=version.kind,
        rows=rows or [MessageRow("system")],
        text=version.template if version.kind == "text" else "",
        variables=dict(version.variables or {}),
        model=str(settings.get("model") or ""),
        temperature="" if settings.get("temperature") is None else str(settings["temperature"]),
        max_tokens="" if settings.get("max_tokens") is None else str(settings["max_tokens"]),
        output_schema=json.dumps(version.output_schema, indent=2) if version.output_schema is not None else "",
        base=version.number,
    )


def _lines(text: str) -> str:
    # Browsers send a textarea's line breaks as CRLF; a template's lines end in LF.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def editor_from_post(post: QueryDict, kind: str) -> EditorForm:
    roles, names = post.getlist("role"), post.getlist("placeholder")
    contents = [_lines(text) for text in post.getlist("content")]
    rows = []
    for index, role in enumerate(roles):
        rows.append(
            MessageRow(
                role=role if role in ROLES else "user",
                content=contents[index] if index < len(contents) else "",
                name=names[index] if index < len(names) else "",
            )
        )
    return EditorForm(
        kind=kind if kind in ("chat", "text") else "chat",
        rows=rows,
        text=_lines(post.get("text", "")),
        variables={
            name: kind_of
            for name, kind_of in zip(post.getlist("var_name"), post.getlist("var_type"), strict=False)
            if name
        },
        model=post.get("model", ""),
        temperature=post.get("temperature", ""),
        max_tokens=post.get("max_tokens", ""),
        output_schema=_lines(post.get("output_schema", "")),
        message=post.get("message", "").strip(),
        base=int_or_none(post.get("base")),
    )


def service_errors(detail: Any) -> Errors:
    """An `Invalid` detail as a list of field errors (a bare message becomes a general one)."""
    return detail if isinstance(detail, list) else [{"loc": [], "msg": str(detail)}]


def variable_rows(form: EditorForm, known: dict[str, str]) -> list[dict[str, Any]]:
    """The variables the template uses now, each with the type to preselect: the one the user
    picked, else the one the base version declared, else the inferred one. A placeholder's type
    is always `messages`. `known` is the base version's variables (a variable not in it is new)."""
    found, _ = form.detected()
    rows = []
    for name, inferred in found.items():
        chosen = form.variables.get(name) or known.get(name) or inferred
        rows.append(
            {
                "name": name,
                "type": "messages" if inferred == "messages" else chosen,
                "locked": inferred == "messages",
                "new": name not in known,
            }
        )
    return rows


def removed_variables(form: EditorForm, known: dict[str, str]) -> list[str]:
    found, _ = form.detected()
    return [name for name in known if name not in found]


def place_errors(form: EditorForm, errors: Errors) -> dict[str, Any]:
    """Service errors sorted to where the page shows them: under a message row, a variable, a
    setting, or in the list at the top (whatever has no place of its own)."""
    for row in form.rows:
        row.errors = []
    placed: dict[str, Any] = {"variables": {}, "settings": {}, "fields": {}, "general": []}
    for error in errors:
        loc = [p for p in error.get("loc", []) if p != "body"]
        msg = str(error.get("msg", ""))
        if len(loc) >= 2 and loc[0] == "template" and isinstance(loc[1], int) and loc[1] < len(form.rows):
            form.rows[loc[1]].errors.append(msg)
        elif len(loc) >= 2 and loc[0] == "variables":
            placed["variables"][str(loc[1])] = msg
        elif len(loc) >= 2 and loc[0] == "model_settings":
            placed["settings"][str(loc[1])] = msg
        elif loc and loc[0] in ("name", "template", "output_schema", "kind", "message", "description"):
            placed["fields"][str(loc[0])] = msg
        else:
            placed["general"].append(msg)
    return placed


# --- the playground ----------------------------------------------------------------------------


@dataclass
class PlaygroundForm:
    """The playground's values, one per variable of the version (posted as `var-<name>`), and
    the error of each value the template refused."""

    variables: dict[str, str]
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_post(cls, version: PromptVersion, post: QueryDict) -> PlaygroundForm:
        variables = dict(version.variables or {})
        return cls(variables, {name: post.get(f"var-{name}", "") for name in variables})

    def place_errors(self, errors: Errors) -> None:
        """Template errors under the variable they name (the last part of `loc`)."""
        for error in errors:
            loc = error.get("loc", [])
            self.errors[str(loc[-1]) if loc else ""] = error["msg"]

    def fields(self) -> list[dict[str, str]]:
        return [
            {"name": name, "type": kind, "value": self.values.get(name, ""), "error": self.errors.get(name, "")}
            for name, kind in self.variables.items()
        ]


# --- moving a label ----------------------------------------------------------------------------

_LABEL = re.compile(r"^[-a-zA-Z0-9_]+$")


@dataclass
class LabelMoveForm:
    """Label, version, optional A/B weights per version (`weight-<n>`), a note."""

    label: str = ""
    version: str = ""
    note: str = ""
    weights: dict[int, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_post(cls, post: QueryDict) -> LabelMoveForm:
        weights = {}
        for key, value in post.items():
            number = int_or_none(key.removeprefix("weight-")) if key.startswith("weight-") else None
            # A key with no value at all comes back as [], not a string.
            if number is not None and isinstance(value, str) and value.strip():
                weights[number] = value.strip()
        return cls(
            label=post.get("label", "").strip(),
            version=post.get("version", "").strip(),
            note=post.get("note", "").strip(),
            weights=weights,
        )

    def number(self) -> int | None:
        number = int_or_none(self.version)
        if number is None:
            self.errors["version"] = "choose a version"
        if not self.label:
            self.errors["label"] = "name the label, e.g. production or staging"
        elif not _LABEL.match(self.label):
            self.errors["label"] = "a label uses letters, digits, - and _ only"
        return number

    def split(self) -> list[dict[str, Any]]:
        """The A/B split (empty when no weight was given); a weight that is not a number is an error."""
        parts = []
        for number, text in sorted(self.weights.items()):
            try:
                weight = float(text.rstrip("%"))
            except ValueError:
                self.errors["split"] = f"the weight of v{number} is not a number"
                continue
            if weight:
                parts.append({"version": number, "weight": weight})
        return parts

