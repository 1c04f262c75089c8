"""The prompt pages: the list, a prompt (versions, labels and their history, results, moving a
label), one version, the editor (with live variable detection), the diff of two versions and
the playground.

Engineers, reviewers and admins read; only admins create, edit and move labels (403 otherwise).
Every write goes through `agents.prompt_admin.services`; a refused write re-renders the form with the
reason and with what the user typed.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import OuterRef, Prefetch, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods, require_POST

from agents.prompt_admin import services as prompt_services
from agents.prompt_admin.forms import (
    EditorForm,
    LabelMoveForm,
    MessageRow,
    PlaygroundForm,
    editor_from_post,
    editor_from_version,
    int_or_none,
    place_errors,
    removed_variables,
    service_errors,
    variable_rows,
)
from agents.prompt_admin.playground import PlaygroundResult, agent_for, run_playground, sample_values
from agents.prompt_admin.results import results_by_version
from agents.prompts.models import Prompt, PromptLabel, PromptLabelMove, PromptVersion
from agents.prompts.templates import ROLES, VARIABLE_TYPES, TemplateErrors, check_content
from approvals.models import ApprovalRequest
from console.kernel.errors import Conflict, Invalid, NotFound
from console.kernel.pages import error_text, pretty, require
from console.kernel.roles import can_read_runs, can_start_runs, is_admin

__all__ = [
    "prompt_detail",
    "prompt_diff",
    "prompt_edit",
    "prompt_list",
    "prompt_move_label",
    "prompt_new",
    "prompt_playground",
    "prompt_validate",
    "prompt_version",
]

# The figures of the results tables, in order: (key in results_by_version, label).
RESULT_FIGURES = (
    ("runs", "Runs"),
    ("success_rate", "Success"),
    ("failure_rate", "Failure"),
    ("rejection_rate", "Approvals rejected"),
    ("tokens", "Tokens"),
    ("cost", "Cost (USD)"),
    ("avg_latency_ms", "Avg latency (ms)"),
)
RATES = {"success_rate", "failure_rate", "rejection_rate"}


def _reader(request: HttpRequest) -> None:
    require(can_read_runs(request.user))


def _admin(request: HttpRequest) -> None:
    require(is_admin(request.user))


def _prompt(name: str) -> Prompt:
    try:
        return prompt_services.prompt_named(name)
    except NotFound:
        raise Http404("prompt not found") from None


def _latest(prompt: Prompt) -> PromptVersion | None:
    return prompt.versions.select_related("author").order_by("-number").first()


def _version_or_none(prompt: Prompt, number: int | None) -> PromptVersion | None:
    if number is None:
        return None
    try:
        return prompt_services.version_of(prompt, number)
    except NotFound:
        return None


def _results(prompt: Prompt, numbers: list[int] | None = None) -> dict[int, dict[str, Any]]:
    results = results_by_version(prompt, numbers)
    for figures in results.values():
        figures["tokens"] = figures["tokens_in"] + figures["tokens_out"]
    return results


# --- list --------------------------------------------------------------------------------------


@login_required
def prompt_list(request: HttpRequest) -> HttpResponse:
    """Every prompt: its labels and their versions, the latest version, the last change."""
    _reader(request)
    newest = PromptVersion.objects.filter(prompt=OuterRef("pk")).order_by("-number")
    last_move = PromptLabelMove.objects.filter(prompt=OuterRef("pk")).order_by("-created_at")
    prompts = list(
        Prompt.objects.annotate(
            latest_number=Subquery(newest.values("number")[:1]),
            latest_at=Subquery(newest.values("created_at")[:1]),
            moved_at=Subquery(last_move.values("created_at")[:1]),
        ).prefetch_related(Prefetch("labels", queryset=PromptLabel.objects.select_related("version").order_by("name")))
    )
    for prompt in prompts:
        prompt.changed_at = max((t for t in (prompt.latest_at, prompt.moved_at) if t is not None), default=None)
    return render(request, "prompts/prompt_list.html", {"prompts": prompts, "is_admin": is_admin(request.user)})


# --- one prompt --------------------------------------------------------------------------------


def _detail_context(request: HttpRequest, prompt: Prompt, move: LabelMoveForm | None = None) -> dict[str, Any]:
    versions = list(prompt.versions.select_related("author").order_by("-number"))
    labels = list(prompt.labels.select_related("version", "updated_by").order_by("name"))
    history: dict[str, list[PromptLabelMove]] = {label.name: [] for label in labels}
    for row in PromptLabelMove.objects.filter(prompt=prompt).select_related("moved_by", "approved_by", "approval_request"):
        history.setdefault(row.label, []).append(row)
    current = {label.name: label.version.number for label in labels}
    labels_of: dict[int, list[str]] = {}
    for label in labels:
        for number in {label.version.number, *(int(p["version"]) for p in label.split or [])}:
            labels_of.setdefault(number, []).append(label.name)
    for version in versions:
        version.label_names = sorted(labels_of.get(version.number, []))
    pending = list(
        ApprovalRequest.objects.filter(
            action=prompt_services.PROMOTE_ACTION,
            status=ApprovalRequest.Status.PENDING,
            proposed_args__prompt=prompt.name,
        )
        .select_related("requested_by")
        .order_by("created_at")
    )
    results = _results(prompt)
    return {
        "prompt": prompt,
        "versions": versions,
        "latest": versions[0] if versions else None,
        "labels": labels,
        "history": [(name, rows, current.get(name)) for name, rows in history.items()],
        "pending": pending,
        "results": [results[v.number] for v in versions if v.number in results],
        "is_admin": is_admin(request.user),
        "move": move or LabelMoveForm(label="production", version=str(versions[0].number) if versions else ""),
        "production": current.get("production"),
    }


@login_required
def prompt_detail(request: HttpRequest, name: str) -> HttpResponse:
    _reader(request)
    prompt = _prompt(name)
    return render(request, "prompts/prompt_detail.html", _detail_context(request, prompt))


@login_required
@require_POST
def prompt_move_label(request: HttpRequest, name: str) -> HttpResponse:
    """Move a label (or split it between versions); a protected label waits for another admin."""
    _admin(request)
    prompt = _prompt(name)
    form = LabelMoveForm.from_post(request.POST)
    number, split = form.number(), form.split()
    status = 422
    if not form.errors and number is not None:
        try:
            outcome, row = prompt_services.move_label(request.user, prompt.name, form.label, number, split or None, form.note)
        except Invalid as exc:
            for error in exc.detail if isinstance(exc.detail, list) else [exc.detail]:
                loc = [str(p) for p in error.get("loc", []) if p not in ("body", "path")] if isinstance(error, dict) else []
                key = loc[0] if loc and loc[0] in ("label", "version", "split") else "split"
                form.errors[key] = error.get("msg", str(error)) if isinstance(error, dict) else str(error)
        except Conflict as exc:
            form.errors["label"] = error_text(exc.detail)
            status = 409
        else:
            if outcome == "moved":
                messages.success(request, f"Moved: {form.label} now points at v{number}.")
            else:
                url = reverse("approval_detail", args=[row.id])
                messages.info(
                    request,
                    format_html(
                        'Waiting for review by another admin: <a href="{}" id="promotion-request-link">the approval request</a>'
                        " moves {} to v{} once approved.", url, form.label, number,
                    ),
                )
            return redirect("prompt_detail", name=prompt.name)
    context = _detail_context(request, prompt, move=form)
    context["move_open"] = True
    return render(request, "prompts/prompt_detail.html", context, status=status)


@login_required
def prompt_version(request: HttpRequest, name: str, number: int) -> HttpResponse:
    _reader(request)
    prompt = _prompt(name)
    version = _version_or_none(prompt, number)
    if version is None:
        raise Http404("version not found")
    numbers = list(prompt.versions.order_by("number").values_list("number", flat=True))
    index = numbers.index(number)
    labels = [
        label for label in prompt.labels.select_related("version").order_by("name")
        if label.version_id == version.pk or any(int(p["version"]) == number for p in label.split or [])
    ]
    return render(
        request,
        "prompts/prompt_version.html",
        {
            "prompt": prompt,
            "version": version,
            "previous": numbers[index - 1] if index > 0 else None,
            "next": numbers[index + 1] if index + 1 < len(numbers) else None,
            "latest": numbers[-1],
            "labels": labels,
            "output_schema": pretty(version.output_schema),
            "results": _results(prompt, [number]).get(number),
            "is_admin": is_admin(request.user),
        },
    )


# --- the editor ----------------------------------------------------------------------------------


def _editor_context(
    form: EditorForm, prompt: Prompt | None, errors: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    base = _version_or_none(prompt, form.base) if prompt is not None else None
    known = dict(base.variables or {}) if base is not None else {}
    placed = place_errors(form, errors)
    variables = variable_rows(form, known)
    for row in variables:
        row["error"] = placed["variables"].pop(row["name"], "")
    # What has no place beside a message or a variable is listed in the panel.
    problems = [
        *(f"{field.replace('_', ' ')}: {msg}" for field, msg in placed["fields"].items()),
        *(f"{key.replace('_', ' ')}: {msg}" for key, msg in placed["settings"].items()),
        *(f"{{{name}}}: {msg}" for name, msg in placed["variables"].items()),
        *placed["general"],
    ]
    problem_rows = [i + 1 for i, row in enumerate(form.rows) if row.errors] if form.kind == "chat" else []
    return {
        "prompt": prompt,
        "form": form,
        "base_version": base,
        "roles": ROLES,
        "types": VARIABLE_TYPES,
        "variables": variables,
        "removed": removed_variables(form, known),
        "placed": placed,
        "problems": problems,
        "problem_rows": problem_rows,
        "has_errors": bool(problems or problem_rows or any(v["error"] for v in variables)),
        "row_errors": json.dumps({i: row.errors for i, row in enumerate(form.rows) if row.errors}),
        "blank_row": MessageRow("user"),
        **extra,
    }


def _edit_base(request: HttpRequest, prompt: Prompt) -> PromptVersion | None:
    """The version the editor starts from: ?from=n, else (or when there is no n) the latest."""
    latest = _latest(prompt)
    wanted = request.GET.get("from")
    if not wanted:
        return latest
    base = _version_or_none(prompt, int_or_none(wanted))
    if base is None:
        messages.error(request, f"There is no version {wanted!r} of {prompt.name}: editing the latest instead.")
    return base or latest


def _conflict_context(form: EditorForm, prompt: Prompt, detail: Any) -> dict[str, Any]:
    """A stale save: their change as a diff against the user's base, which their version replaces."""
    if not isinstance(detail, dict):
        return _editor_context(form, prompt, [{"loc": [], "msg": error_text(detail)}])
    stale_base = form.rebase(detail)
    return _editor_context(
        form, prompt, [], conflict=detail, stale_base=stale_base,
        conflict_left=f"v{stale_base} (your base)", conflict_right=f"v{form.base} (theirs)",
    )


def _saved_message(prompt: Prompt, version: PromptVersion) -> str:
    return format_html(
        'Saved version {} of {}. <a href="{}?a={}&amp;b={}" id="saved-diff-link">See what changed</a>.',
        version.number, prompt.name, reverse("prompt_diff", args=[prompt.name]),
        version.base_number or version.number, version.number,
    )


EDIT_PAGE = "prompts/prompt_edit.html"


@login_required
@require_http_methods(["GET", "POST"])
def prompt_edit(request: HttpRequest, name: str) -> HttpResponse:
    """Edit from a version (?from=n, the latest by default) and save a new one.

    A stale base (someone saved meanwhile) saves nothing: the page shows their change as a diff,
    keeps the text, and takes their version as the new base so that saving again works.
    """
    _admin(request)
    prompt = _prompt(name)
    if request.method == "GET":
        form = editor_from_version(_edit_base(request, prompt), prompt.kind)
        return render(request, EDIT_PAGE, _editor_context(form, prompt, []))
    form = editor_from_post(request.POST, prompt.kind)
    if form.apply_row_action(request.POST.get("row_action", "")):
        return render(request, EDIT_PAGE, _editor_context(form, prompt, []))
    content = form.content()
    if form.errors:
        return render(request, EDIT_PAGE, _editor_context(form, prompt, form.errors), status=422)
    try:
        version = prompt_services.save_version(request.user, prompt.name, base_number=form.base, **content)
    except Invalid as exc:
        return render(request, EDIT_PAGE, _editor_context(form, prompt, service_errors(exc.detail)), status=422)
    except Conflict as exc:
        return render(request, EDIT_PAGE, _conflict_context(form, prompt, exc.detail), status=409)
    messages.success(request, _saved_message(prompt, version))
    return redirect("prompt_detail", name=prompt.name)


@login_required
@require_http_methods(["GET", "POST"])
def prompt_new(request: HttpRequest) -> HttpResponse:
    """A new prompt: name, kind, description and its first version (labelled production)."""
    _admin(request)
    details = {key: request.POST.get(key, "").strip() for key in ("name", "description")}
    details["kind"] = request.POST.get("kind", "chat")
    if request.method == "GET":
        return render(request, "prompts/prompt_new.html", _editor_context(EditorForm(), None, [], details=details))
    form = editor_from_post(request.POST, details["kind"])
    if form.apply_row_action(request.POST.get("row_action", "")):
        return render(request, "prompts/prompt_new.html", _editor_context(form, None, [], details=details))
    content = form.content()
    errors = list(form.errors)
    if not details["name"]:
        errors.append({"loc": ["name"], "msg": "give the prompt a name"})
    status = 422
    if not errors:
        try:
            prompt_services.create_prompt(
                request.user, details["name"], kind=form.kind, description=details["description"], **content
            )
        except Invalid as exc:
            errors = service_errors(exc.detail)
        except Conflict as exc:
            errors, status = [{"loc": ["name"], "msg": error_text(exc.detail)}], 409
        else:
            messages.success(request, f"Created {details['name']} with version 1, labelled production.")
            return redirect("prompt_detail", name=details["name"])
    return render(request, "prompts/prompt_new.html", _editor_context(form, None, errors, details=details), status=status)


@login_required
@require_POST
def prompt_validate(request: HttpRequest) -> HttpResponse:
    """The editor's variable panel, re-rendered as the admin types (htmx): the variables the
    template uses with a type each, and what is wrong (syntax, types, settings), before saving."""
    _admin(request)
    prompt = Prompt.objects.filter(name=request.POST.get("prompt", "")).first()
    kind = prompt.kind if prompt is not None else request.POST.get("kind", "chat")
    form = editor_from_post(request.POST, kind)
    model_settings, output_schema = form.model_settings(), form.parsed_output_schema()
    # A variable just typed has no type yet: check it as its preselected type, not as undefined.
    known = {}
    base = _version_or_none(prompt, form.base) if prompt is not None else None
    if base is not None:
        known = dict(base.variables or {})
    typed = {row["name"]: row["type"] for row in variable_rows(form, known)}
    errors = list(form.errors)
    try:
        check_content(form.kind, form.template(), typed, model_settings, output_schema)
    except TemplateErrors as exc:
        errors += exc.errors
    return render(request, "prompts/partials/_variables.html", _editor_context(form, prompt, errors))


# --- diff ----------------------------------------------------------------------------------------


@login_required
def prompt_diff(request: HttpRequest, name: str) -> HttpResponse:
    """Two versions side by side (?a=&b=, by default the latest and the one before), with
    their results."""
    _reader(request)
    prompt = _prompt(name)
    numbers = list(prompt.versions.order_by("number").values_list("number", flat=True))
    problems = []
    b = int_or_none(request.GET.get("b")) if request.GET.get("b") else numbers[-1]
    if b not in numbers:
        problems.append(f"There is no version {request.GET.get('b')!r}: showing the latest.")
        b = numbers[-1]
    earlier = [n for n in numbers if n < b]
    a = int_or_none(request.GET.get("a")) if request.GET.get("a") else (earlier[-1] if earlier else b)
    if a not in numbers:
        problems.append(f"There is no version {request.GET.get('a')!r}: comparing with the one before.")
        a = earlier[-1] if earlier else b
    version_a, version_b = prompt_services.version_of(prompt, a), prompt_services.version_of(prompt, b)
    results = _results(prompt, [a, b])
    figures = [
        {"label": label, "a": results[a][key], "b": results[b][key], "rate": key in RATES}
        for key, label in RESULT_FIGURES
    ]
    return render(
        request,
        "prompts/prompt_diff.html",
        {
            "prompt": prompt,
            "a": version_a,
            "b": version_b,
            "numbers": numbers,
            "rows": prompt_services.diff_of(version_a, version_b),
            "a_title": f"v{a}",
            "b_title": f"v{b}",
            "figures": figures,
            "problems": problems,
            "is_admin": is_admin(request.user),
        },
    )


# --- playground ----------------------------------------------------------------------------------


def _playground_version(prompt: Prompt, wanted: str | None) -> tuple[PromptVersion, str]:
    """The version asked for, else the one production points at, else the latest."""
    problem = ""
    if wanted:
        version = _version_or_none(prompt, int_or_none(wanted))
        if version is not None:
            return version, problem
        problem = f"There is no version {wanted!r} of {prompt.name}."
    label = prompt.labels.select_related("version").filter(name="production").first()
    version = label.version if label is not None else _latest(prompt)
    if version is None:
        raise Http404("prompt has no version")
    return version, problem


@login_required
@require_http_methods(["GET", "POST"])
def prompt_playground(request: HttpRequest, name: str) -> HttpResponse:
    """Fill the variables, see the rendered prompt and the model's answer. Running it calls a
    model, so it is for those who may start runs (engineers and admins)."""
    _reader(request)
    prompt = _prompt(name)
    version, problem = _playground_version(prompt, request.POST.get("version") or request.GET.get("version"))
    if problem:
        messages.error(request, problem + " Showing " + f"v{version.number}.")
    may_run = can_start_runs(request.user)
    form = PlaygroundForm(dict(version.variables or {}), sample_values(version))
    result: PlaygroundResult | None = None
    status = 200
    if request.method == "POST":
        require(may_run)
        form = PlaygroundForm.from_post(version, request.POST)
        try:
            result = run_playground(version, form.values)
        except TemplateErrors as exc:
            form.place_errors(exc.errors)
            status = 422
    return render(
        request,
        "prompts/prompt_playground.html",
        {
            "prompt": prompt,
            "version": version,
            "numbers": list(prompt.versions.order_by("-number").values_list("number", flat=True)),
            "fields": form.fields(),
            "result": result,
            "agent": agent_for(prompt.name),
            "may_run": may_run,
        },
        status=status,
    )
