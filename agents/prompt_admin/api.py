"""Prompts API: prompts, their versions, labels (moves reviewed when protected), per-version
results, and export/import between Stewards. Mounted at /prompts (console/web/api.py).

Engineers, reviewers and admins read; only admins write (403 in the authentication step, before
the body is looked at). The writes themselves are agents/prompt_admin/services.py and
agents/prompt_admin/transfer.py.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from ninja import Field, Query, Router, Schema, Status

from agents.prompt_admin.results import results_by_version
from agents.prompt_admin.services import (
    create_prompt,
    diff_of,
    move_label,
    pending_promotion,
    prompt_named,
    save_version,
    version_of,
)
from agents.prompt_admin.transfer import (
    PromptsV1,
    export_filename,
    export_prompts,
    import_prompts,
    parse_document,
)
from agents.prompts.models import Prompt, PromptLabel, PromptLabelMove, PromptVersion
from approvals.models import ApprovalRequest
from console.kernel.auth import role_auth
from console.kernel.documents import download
from console.kernel.errors import NotFound
from console.kernel.roles import ENGINEERS, REVIEWERS, has_role, is_admin
from console.kernel.schemas import ErrorOut, InputSchema

__all__ = ["router"]

router = Router(tags=["prompts"])

READ = role_auth(lambda user: has_role(user, ENGINEERS, REVIEWERS), "read prompts")
WRITE = role_auth(is_admin, "change prompts")

_E = ErrorOut
READ_ERRORS: dict[int, Any] = {401: _E, 403: _E, 404: _E, 422: _E}
WRITE_ERRORS: dict[int, Any] = {400: _E, 401: _E, 403: _E, 404: _E, 409: _E, 422: _E}


# --- schemas ----------------------------------------------------------------------------------


class PromptCreateIn(InputSchema):
    name: str = Field(..., max_length=100, description="letters, digits, - and _")
    kind: str = Field("chat", description="chat (a list of messages) or text (one string)")
    description: str = Field("", max_length=5000)
    template: Any = Field(..., description='chat: [{"role": "system", "content": "..."}, ...]; text: "..."')
    variables: dict[str, Any] | None = Field(None, description="name → type; inferred from the template when left out")
    model_settings: dict[str, Any] | None = Field(None, description="model, temperature, max_tokens")
    output_schema: Any = Field(None, description="a JSON Schema object")
    message: str = Field("", max_length=500)


class VersionIn(InputSchema):
    template: Any
    variables: dict[str, Any] | None = None
    model_settings: dict[str, Any] | None = None
    output_schema: Any = None
    message: str = Field(..., max_length=500, description="what changed and why")
    base_version: int | None = Field(
        None, description="the version you started from: 409 (nothing saved) when someone saved a newer one"
    )


class LabelIn(InputSchema):
    version: int
    split: list[dict[str, Any]] | None = Field(
        None, description='traffic by weight, e.g. [{"version": 3, "weight": 80}, {"version": 4, "weight": 20}]'
    )
    note: str = Field("", max_length=500)


class PromptListOut(Schema):
    name: str
    description: str
    kind: str
    labels: dict[str, int]
    latest_version: int | None


class LabelOut(Schema):
    name: str
    version: int
    split: list[dict[str, Any]]
    protected: bool
    updated_by: str | None
    updated_at: datetime
    pending_request: uuid.UUID | None


class VersionSummaryOut(Schema):
    number: int
    content_hash: str
    message: str
    base_number: int | None
    author: str
    created_at: datetime
    labels: list[str]


class PromptOut(Schema):
    name: str
    description: str
    kind: str
    protected_labels: list[str]
    created_at: datetime
    latest_version: int | None
    labels: list[LabelOut]
    versions: list[VersionSummaryOut]


class VersionOut(Schema):
    prompt: str
    number: int
    kind: str
    template: Any
    variables: dict[str, str]
    model_settings: dict[str, Any]
    output_schema: Any
    content_hash: str
    message: str
    base_number: int | None
    author: str
    created_at: datetime


class MoveOut(Schema):
    label: str
    from_version: int | None
    to_version: int
    split: list[dict[str, Any]]
    moved_by: str | None
    approved_by: str | None
    approval_request: uuid.UUID | None
    note: str
    created_at: datetime


class LabelMovedOut(Schema):
    label: LabelOut
    move: MoveOut


class PendingOut(Schema):
    id: uuid.UUID
    status: str
    queue: str
    summary: str
    url: str


class CompareOut(Schema):
    a: VersionOut
    b: VersionOut
    diff: list[dict[str, Any]]
    results: dict[str, dict[str, Any]]


class ImportReportOut(Schema):
    created_prompts: list[str]
    created_versions: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    conflicts: list[dict[str, Any]]
    labels_created: list[dict[str, Any]]
    labels_skipped: list[dict[str, Any]]


# --- shaping ----------------------------------------------------------------------------------


def _name(user: Any) -> str | None:
    return user.get_username() if user is not None else None


def _label_out(prompt: Prompt, label: PromptLabel) -> dict[str, Any]:
    waiting = pending_promotion(prompt, label.name) if prompt.is_protected(label.name) else None
    return {
        "name": label.name,
        "version": label.version.number,
        "split": label.split,
        "protected": prompt.is_protected(label.name),
        "updated_by": _name(label.updated_by),
        "updated_at": label.updated_at,
        "pending_request": waiting.id if waiting else None,
    }


def _move_out(move: PromptLabelMove) -> dict[str, Any]:
    return {
        "label": move.label,
        "from_version": move.from_number,
        "to_version": move.to_number,
        "split": move.split,
        "moved_by": _name(move.moved_by),
        "approved_by": _name(move.approved_by),
        "approval_request": move.approval_request_id,
        "note": move.note,
        "created_at": move.created_at,
    }


def _labels_of(prompt: Prompt) -> list[PromptLabel]:
    return list(PromptLabel.objects.filter(prompt=prompt).select_related("version", "updated_by").order_by("name"))


def _prompt_out(prompt: Prompt) -> dict[str, Any]:
    labels = _labels_of(prompt)
    by_number: dict[int, list[str]] = {}
    for label in labels:
        by_number.setdefault(label.version.number, []).append(label.name)
    versions = PromptVersion.objects.filter(prompt=prompt).select_related("author").order_by("-number")
    summaries = [
        {
            "number": v.number,
            "content_hash": v.content_hash,
            "message": v.message,
            "base_number": v.base_number,
            "author": v.author_name,
            "created_at": v.created_at,
            "labels": by_number.get(v.number, []),
        }
        for v in versions
    ]
    return {
        "name": prompt.name,
        "description": prompt.description,
        "kind": prompt.kind,
        "protected_labels": list(prompt.protected_labels or []),
        "created_at": prompt.created_at,
        "latest_version": summaries[0]["number"] if summaries else None,
        "labels": [_label_out(prompt, label) for label in labels],
        "versions": summaries,
    }


# --- export and import (before /{name}, which would take "export") ----------------------------

_EXPORT_NAMES = Query(None, description="a prompt to export; repeat for several; none: all")


@router.get(
    "/export",
    auth=READ,
    response={200: PromptsV1, 401: _E, 403: _E, 404: _E},
    summary="Export prompts with all their versions and labels",
)
def export(request: HttpRequest, name: list[str] | None = _EXPORT_NAMES) -> HttpResponse:
    """Every prompt (or each `?name=`) as one JSON file (format "steward.prompts.v1")."""
    names = [n for n in (name or []) if n]
    data = export_prompts(names or None)
    return download(data, export_filename(names or None))


@router.post(
    "/import",
    auth=WRITE,
    response={200: ImportReportOut, **WRITE_ERRORS},
    summary="Import prompts exported by a Steward",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PromptsV1"}}},
        }
    },
)
def import_(request: HttpRequest) -> dict[str, Any]:
    """Body: an export (GET /api/prompts/export). Adds the versions and labels missing here and
    reports the rest: a version whose number is taken is skipped (same hash) or a conflict (other
    content; never overwritten); an existing label never moves. A version whose content does not
    match its hash is 422 and nothing is imported."""
    return import_prompts(parse_document(request.body), request.user)


# --- prompts ----------------------------------------------------------------------------------


@router.get("", auth=READ, response={200: list[PromptListOut], 401: _E, 403: _E})
def list_prompts(request: HttpRequest) -> list[dict[str, Any]]:
    """Every prompt with its labels ({label: version}) and its latest version number."""

    prompts = Prompt.objects.order_by("name").annotate(latest=Max("versions__number"))
    labels: dict[int, dict[str, int]] = {}
    for prompt_id, label, number in PromptLabel.objects.values_list("prompt_id", "name", "version__number"):
        labels.setdefault(prompt_id, {})[label] = number
    return [
        {
            "name": p.name,
            "description": p.description,
            "kind": p.kind,
            "labels": labels.get(p.pk, {}),
            "latest_version": p.latest,
        }
        for p in prompts
    ]


@router.post("", auth=WRITE, response={201: PromptOut, **WRITE_ERRORS})
def post_prompt(request: HttpRequest, body: PromptCreateIn) -> Status:
    """A new prompt: version 1, labelled `production` → 201."""
    version = create_prompt(
        request.user, body.name, kind=body.kind, description=body.description, template=body.template,
        variables=body.variables, model_settings=body.model_settings, output_schema=body.output_schema,
        message=body.message,
    )
    return Status(201, _prompt_out(version.prompt))


@router.get("/{name}", auth=READ, response={200: PromptOut, **READ_ERRORS})
def get_prompt(request: HttpRequest, name: str) -> dict[str, Any]:
    """The prompt, its labels (with splits and any promotion waiting for review) and its versions,
    newest first."""
    return _prompt_out(prompt_named(name))


# --- versions ---------------------------------------------------------------------------------


@router.get("/{name}/versions", auth=READ, response={200: list[VersionOut], **READ_ERRORS})
def list_versions(request: HttpRequest, name: str) -> list[dict[str, Any]]:
    """Every version, newest first, with its content."""
    prompt = prompt_named(name)
    versions = PromptVersion.objects.filter(prompt=prompt).select_related("prompt", "author").order_by("-number")
    return [v.as_dict() for v in versions]


@router.post("/{name}/versions", auth=WRITE, response={201: VersionOut, **WRITE_ERRORS})
def post_version(request: HttpRequest, name: str, body: VersionIn) -> Status:
    """Save a new immutable version → 201. 409 (nothing saved) when `base_version` is not the
    latest any more: the answer carries a message, the latest version and the diff from your base
    to it. 422 for bad template syntax or a variable the template uses but does not define."""
    version = save_version(
        request.user, name, template=body.template, variables=body.variables, model_settings=body.model_settings,
        output_schema=body.output_schema, message=body.message, base_number=body.base_version,
    )
    return Status(201, version.as_dict())


@router.get("/{name}/versions/{number}", auth=READ, response={200: VersionOut, **READ_ERRORS})
def get_version(request: HttpRequest, name: str, number: int) -> dict[str, Any]:
    """One version with its content."""
    return version_of(prompt_named(name), number).as_dict()


# --- labels -----------------------------------------------------------------------------------


@router.put(
    "/{name}/labels/{label}",
    auth=WRITE,
    response={200: LabelMovedOut, 202: PendingOut, **WRITE_ERRORS},
)
def put_label(request: HttpRequest, name: str, label: str, body: LabelIn) -> Status:
    """Point a label at a version (optionally splitting traffic). 200 with the label when it moved;
    202 with the approval request when the label is protected and another admin must approve
    (POST /api/approvals/{id}/decision); 409 when a move of this label already waits for review;
    422 for a version that does not exist or a bad split."""
    outcome, result = move_label(request.user, name, label, body.version, split=body.split, note=body.note)
    if outcome == "pending":
        assert isinstance(result, ApprovalRequest)
        return Status(
            202,
            {
                "id": result.id,
                "status": result.status,
                "queue": result.queue.name,
                "summary": result.summary,
                "url": reverse("approval_detail", args=[result.id]),
            },
        )
    assert isinstance(result, PromptLabelMove)
    prompt = prompt_named(name)
    row = PromptLabel.objects.select_related("version", "updated_by").get(prompt=prompt, name=label)
    move = PromptLabelMove.objects.select_related("moved_by", "approved_by").get(pk=result.pk)
    return Status(200, {"label": _label_out(prompt, row), "move": _move_out(move)})


@router.get("/{name}/labels/{label}/history", auth=READ, response={200: list[MoveOut], **READ_ERRORS})
def label_history(request: HttpRequest, name: str, label: str) -> list[dict[str, Any]]:
    """Every move of the label, newest first, with who moved it and who approved it."""
    prompt = prompt_named(name)
    moves = list(
        PromptLabelMove.objects.filter(prompt=prompt, label=label)
        .select_related("moved_by", "approved_by")
        .order_by("-created_at", "-id")
    )
    if not moves and not PromptLabel.objects.filter(prompt=prompt, name=label).exists():
        raise NotFound(f"prompt {name!r} has no label {label!r}")
    return [_move_out(m) for m in moves]


# --- results ----------------------------------------------------------------------------------


@router.get("/{name}/compare", auth=READ, response={200: CompareOut, **READ_ERRORS})
def compare(request: HttpRequest, name: str, a: int, b: int) -> dict[str, Any]:
    """Two versions side by side (diff rows from a to b) with how each one's runs did."""
    prompt = prompt_named(name)
    left, right = version_of(prompt, a), version_of(prompt, b)
    figures = results_by_version(prompt, [a, b])
    return {
        "a": left.as_dict(),
        "b": right.as_dict(),
        "diff": diff_of(left, right),
        "results": {"a": figures[a], "b": figures[b]},
    }


@router.get("/{name}/results", auth=READ, response={200: list[dict[str, Any]], **READ_ERRORS})
def results(request: HttpRequest, name: str) -> list[dict[str, Any]]:
    """How each version's runs did (runs, success, failure and approval rejection rates, tokens,
    cost, latency), newest version first."""
    figures = results_by_version(prompt_named(name))
    return [figures[number] for number in sorted(figures, reverse=True)]

