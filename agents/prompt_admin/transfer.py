"""Moving prompts between Stewards: every version and label of some prompts as one JSON document,
and bringing such a document into another Steward without overwriting anything.

The document (`format` "steward.prompts.v1")::

    {
      "format": "steward.prompts.v1",
      "exported_at": "<ISO 8601 time>",
      "source": "<the exporting Steward's STEWARD_BASE_URL>",
      "prompts": [
        {"name", "description", "kind", "protected_labels", "created_at",
         "versions": [{"number", "kind", "template", "variables", "model_settings", "output_schema",
                       "content_hash", "message", "base_number", "author", "created_at"}, ...],
         "labels": [{"name", "version", "split", "updated_by", "updated_at",
                     "history": [{"from_number", "to_number", "split", "moved_by", "approved_by",
                                  "note", "created_at"}, ...]}, ...]},     # history oldest first
        ...
      ]
    }

An import is additive. A version whose number is free here is created with its number, its hash,
its message, its time and its author's name (`imported_author`: users are not matched by name
across Stewards). A version whose number is taken is skipped when the content is the same (same
hash) and reported as a conflict otherwise: it is never overwritten. A label is created only where
the prompt has no label of that name, with its history; an existing label never moves. Every
version's hash is recomputed from its content first: one mismatch and nothing is imported.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from django.db import IntegrityError, transaction
from django.utils import timezone
from pydantic import Field

from agents.prompts.models import Prompt, PromptLabel, PromptLabelMove, PromptVersion, content_hash
from agents.prompts.templates import TemplateErrors, check_content
from console.kernel import audit
from console.kernel.documents import (
    INT32,
    DocumentFormat,
    Moment,
    StrictModel,
    envelope,
    error,
    parse_json,
    username,
)
from console.kernel.errors import Conflict, Forbidden, NotFound
from console.kernel.roles import is_admin

__all__ = [
    "FORMAT",
    "PromptsV1",
    "export_filename",
    "export_prompts",
    "import_prompts",
    "parse_document",
    "validate_document",
]

FORMAT = "steward.prompts.v1"


# --- export ---------------------------------------------------------------------------------


def _move_dict(move: PromptLabelMove) -> dict[str, Any]:
    return {
        "from_number": move.from_number,
        "to_number": move.to_number,
        "split": move.split,
        "moved_by": username(move.moved_by),
        "approved_by": username(move.approved_by),
        "note": move.note,
        "created_at": move.created_at.isoformat(),
    }


def _prompt_dict(prompt: Prompt) -> dict[str, Any]:
    versions = PromptVersion.objects.filter(prompt=prompt).select_related("author").order_by("number")
    moves: dict[str, list[dict[str, Any]]] = {}
    for move in (
        PromptLabelMove.objects.filter(prompt=prompt)
        .select_related("moved_by", "approved_by")
        .order_by("created_at", "id")
    ):
        moves.setdefault(move.label, []).append(_move_dict(move))
    labels = PromptLabel.objects.filter(prompt=prompt).select_related("version", "updated_by").order_by("name")
    return {
        "name": prompt.name,
        "description": prompt.description,
        "kind": prompt.kind,
        "protected_labels": list(prompt.protected_labels or []),
        "created_at": prompt.created_at.isoformat(),
        "versions": [v.as_dict(with_prompt=False) for v in versions],
        "labels": [
            {
                "name": label.name,
                "version": label.version.number,
                "split": label.split,
                "updated_by": username(label.updated_by),
                "updated_at": label.updated_at.isoformat(),
                "history": moves.get(label.name, []),
            }
            for label in labels
        ],
    }


def export_prompts(names: list[str] | None = None) -> dict[str, Any]:
    """Every prompt (or those named) with all its versions and labels, as JSON data.

    Raises:
        NotFound: a name that is not a prompt here.
    """
    prompts = Prompt.objects.order_by("name")
    if names:
        wanted = list(dict.fromkeys(names))
        prompts = prompts.filter(name__in=wanted)
        missing = sorted(set(wanted) - {p.name for p in prompts})
        if missing:
            raise NotFound(f"there is no prompt named {', '.join(repr(n) for n in missing)}")
    return {**envelope(FORMAT), "prompts": [_prompt_dict(p) for p in prompts]}


def export_filename(names: list[str] | None = None) -> str:
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    if names and len(set(names)) == 1:
        return f"prompt-{names[0]}-{stamp}.json"
    return f"prompts-{stamp}.json"


# --- the shape an import must have ---------------------------------------------------------


Number = Annotated[int, Field(ge=1, le=INT32)]
Slug = Annotated[str, Field(min_length=1, pattern=r"^[-a-zA-Z0-9_]+$")]
UserName = Annotated[str, Field(max_length=150)]


class SplitPartV1(StrictModel):
    version: Number
    weight: Annotated[float, Field(gt=0)]


class VersionV1(StrictModel):
    number: Number
    kind: Literal["chat", "text"]
    template: Any
    variables: dict[str, str] = Field(default_factory=dict)
    model_settings: dict[str, Any] = Field(default_factory=dict)
    output_schema: dict[str, Any] | None = None
    content_hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    message: Annotated[str, Field(max_length=500)] = ""
    base_number: Number | None = None
    author: UserName | None = None
    created_at: Moment


class MoveV1(StrictModel):
    from_number: Number | None = None
    to_number: Number
    split: list[SplitPartV1] = Field(default_factory=list)
    moved_by: UserName | None = None
    approved_by: UserName | None = None
    note: Annotated[str, Field(max_length=500)] = ""
    created_at: Moment


class LabelV1(StrictModel):
    name: Annotated[Slug, Field(max_length=64)]
    version: Number
    split: list[SplitPartV1] = Field(default_factory=list)
    updated_by: UserName | None = None
    updated_at: Moment
    history: list[MoveV1] = Field(default_factory=list)


class PromptV1(StrictModel):
    name: Annotated[Slug, Field(max_length=100)]
    description: str = ""
    kind: Literal["chat", "text"]
    protected_labels: list[Annotated[Slug, Field(max_length=64)]] = Field(default_factory=lambda: ["production"])
    created_at: Moment | None = None
    versions: list[VersionV1] = Field(min_length=1)
    labels: list[LabelV1] = Field(default_factory=list)


class PromptsV1(StrictModel):
    """A Steward prompts export (format "steward.prompts.v1")."""

    format: Literal["steward.prompts.v1"]
    exported_at: Moment
    source: Annotated[str, Field(max_length=500)] = ""
    prompts: list[PromptV1]


# --- validation -------------------------------------------------------------------------------


PROMPTS = DocumentFormat(FORMAT, "prompts", PromptsV1)


def _version_errors(prompt: PromptV1, at: list[Any]) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    seen: set[int] = set()
    for j, version in enumerate(prompt.versions):
        loc = [*at, "versions", j]
        if version.number in seen:
            errors.append(error([*loc, "number"], f"version {version.number} appears twice", "duplicate"))
        seen.add(version.number)
        if version.kind != prompt.kind:
            errors.append(error([*loc, "kind"], f"a {prompt.kind} prompt's versions are {prompt.kind}", "kind"))
        try:
            check_content(version.kind, version.template, version.variables, version.model_settings, version.output_schema)
        except TemplateErrors as exc:
            errors += [error([*loc, *e["loc"]], e["msg"], "template") for e in exc.errors]
            continue
        digest = content_hash(
            version.kind, version.template, version.variables, version.model_settings, version.output_schema
        )
        if digest != version.content_hash:
            errors.append(
                error(
                    [*loc, "content_hash"],
                    f"version {version.number}'s content does not match its hash (it was changed after export)",
                    "hash_mismatch",
                )
            )
    return errors


def _label_errors(prompt: PromptV1, at: list[Any]) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    numbers = {v.number for v in prompt.versions}
    names: set[str] = set()

    def check(loc: list[Any], number: int | None) -> None:
        if number is not None and number not in numbers:
            errors.append(error(loc, f"version {number} is not in the export", "unknown_version"))

    for k, label in enumerate(prompt.labels):
        loc = [*at, "labels", k]
        if label.name in names:
            errors.append(error([*loc, "name"], f"label {label.name!r} appears twice", "duplicate"))
        names.add(label.name)
        check([*loc, "version"], label.version)
        for s, part in enumerate(label.split):
            check([*loc, "split", s, "version"], part.version)
        for h, move in enumerate(label.history):
            check([*loc, "history", h, "from_number"], move.from_number)
            check([*loc, "history", h, "to_number"], move.to_number)
            for s, part in enumerate(move.split):
                check([*loc, "history", h, "split", s, "version"], part.version)
    return errors


def _document_errors(document: PromptsV1) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    names: set[str] = set()
    for i, prompt in enumerate(document.prompts):
        at: list[Any] = ["prompts", i]
        if prompt.name in names:
            errors.append(error([*at, "name"], f"prompt {prompt.name!r} appears twice", "duplicate"))
        names.add(prompt.name)
        errors += _version_errors(prompt, at)
        errors += _label_errors(prompt, at)
    return errors


def validate_document(data: Any) -> PromptsV1:
    """The document as a checked PromptsV1: its shape, each version's content, each version's
    hash against its content, and the labels' version numbers.

    Raises:
        Invalid: (422) a list of {"loc", "msg", "type"} naming everything that is wrong.
    """
    return PROMPTS.validate(data, after=_document_errors)


# A prompts document is read like every Steward document (Invalid, 422: not JSON, or not UTF-8).
parse_document = parse_json


# --- import -----------------------------------------------------------------------------------


def _split(parts: list[SplitPartV1]) -> list[dict[str, Any]]:
    return [{"version": p.version, "weight": p.weight} for p in parts]


def _imported_note(move: MoveV1) -> str:
    # The history rows point at users of this Steward; the exporting Steward's users are kept
    # by name in the note rather than matched to whoever has the same name here.
    who = [f"moved by {move.moved_by}"] if move.moved_by else []
    who += [f"approved by {move.approved_by}"] if move.approved_by else []
    if not who:
        return move.note
    suffix = f"[imported: {', '.join(who)}]"
    text = f"{move.note} {suffix}".strip()
    return text if len(text) <= 500 else f"{move.note[: 500 - len(suffix) - 1]} {suffix}"


def _import_prompt(spec: PromptV1, user: Any, report: dict[str, list[Any]]) -> tuple[Prompt, dict[str, Any]]:
    """One prompt's versions and labels; returns the prompt and what its audit event records."""
    prompt = Prompt.objects.select_for_update().filter(name=spec.name).first()
    created = prompt is None
    if prompt is None:
        prompt = Prompt.objects.create(
            name=spec.name,
            description=spec.description,
            kind=spec.kind,
            protected_labels=list(spec.protected_labels),
            created_by=user if getattr(user, "pk", None) else None,
            created_at=spec.created_at or timezone.now(),
        )
        report["created_prompts"].append(prompt.name)
    here = dict(PromptVersion.objects.filter(prompt=prompt).values_list("number", "content_hash"))
    # Numbers whose content here is the exported content: only those may carry an imported label.
    same: set[int] = set()
    done: dict[str, list[int]] = {"created": [], "skipped": [], "conflicts": []}
    for version in sorted(spec.versions, key=lambda v: v.number):
        entry = {"prompt": prompt.name, "number": version.number, "content_hash": version.content_hash}
        existing = here.get(version.number)
        if existing == version.content_hash:
            same.add(version.number)
            report["skipped"].append(entry)
            done["skipped"].append(version.number)
        elif existing is not None or version.kind != prompt.kind:
            reason = (
                f"version {version.number} here has other content (hash {existing[:12]}…): it was not overwritten"
                if existing is not None
                else f"the prompt here is a {prompt.kind} prompt, this version is {version.kind}"
            )
            report["conflicts"].append({**entry, "existing_hash": existing, "msg": reason})
            done["conflicts"].append(version.number)
        else:
            PromptVersion.objects.create(
                prompt=prompt,
                number=version.number,
                kind=version.kind,
                template=version.template,
                variables=version.variables,
                model_settings=version.model_settings,
                output_schema=version.output_schema,
                content_hash=version.content_hash,
                message=version.message,
                base_number=version.base_number,
                imported_author=version.author or "",
                created_at=version.created_at,
            )
            same.add(version.number)
            report["created_versions"].append(entry)
            done["created"].append(version.number)
    labels_here = set(PromptLabel.objects.filter(prompt=prompt).values_list("name", flat=True))
    labels_done: dict[str, list[str]] = {"created": [], "skipped": []}
    for label in spec.labels:
        entry = {"prompt": prompt.name, "label": label.name, "version": label.version}
        needed = {label.version, *(p.version for p in label.split)}
        if label.name in labels_here:
            report["labels_skipped"].append({**entry, "msg": f"{prompt.name}@{label.name} exists here: it was not moved"})
            labels_done["skipped"].append(label.name)
            continue
        if not needed <= same:
            missing = ", ".join(f"v{n}" for n in sorted(needed - same))
            report["labels_skipped"].append(
                {**entry, "msg": f"{missing} here is not the exported content: the label was not created"}
            )
            labels_done["skipped"].append(label.name)
            continue
        PromptLabel.objects.create(
            prompt=prompt,
            name=label.name,
            version=PromptVersion.objects.get(prompt=prompt, number=label.version),
            split=_split(label.split),
            updated_at=label.updated_at,
        )
        # Oldest first, so the ids follow the times like moves made here.
        PromptLabelMove.objects.bulk_create(
            [
                PromptLabelMove(
                    prompt=prompt,
                    label=label.name,
                    from_number=move.from_number,
                    to_number=move.to_number,
                    split=_split(move.split),
                    note=_imported_note(move),
                    created_at=move.created_at,
                )
                for move in sorted(label.history, key=lambda m: m.created_at)
            ]
        )
        report["labels_created"].append(entry)
        labels_done["created"].append(label.name)
    return prompt, {
        "prompt_created": created,
        "created_versions": done["created"],
        "skipped_versions": done["skipped"],
        "conflicts": done["conflicts"],
        "labels_created": labels_done["created"],
        "labels_skipped": labels_done["skipped"],
    }


def import_prompts(data: Any, user: Any) -> dict[str, list[Any]]:
    """Bring an export into this Steward, in one transaction, never overwriting anything.

    Returns:
        The report: {"created_prompts": [name], "created_versions", "skipped" (same number and
        hash already here), "conflicts" (same number, other content: not overwritten),
        "labels_created", "labels_skipped"}; version entries are {prompt, number, content_hash}.

    Raises:
        Forbidden (not an admin); Invalid (not a valid export, a hash that does not match its
        content: nothing is imported); Conflict (someone created one of the prompts meanwhile).
    """

    if not is_admin(user):
        raise Forbidden("only admins import prompts")
    document = validate_document(data)
    report: dict[str, list[Any]] = {
        "created_prompts": [],
        "created_versions": [],
        "skipped": [],
        "conflicts": [],
        "labels_created": [],
        "labels_skipped": [],
    }
    try:
        with transaction.atomic():
            for spec in document.prompts:
                prompt, done = _import_prompt(spec, user, report)
                audit.record(
                    user, "prompt.imported", prompt, source=document.source,
                    exported_at=document.exported_at.isoformat(), **done,
                )
    except IntegrityError:
        raise Conflict("prompts changed while importing (created at the same time): nothing was imported, try again") from None
    return report
