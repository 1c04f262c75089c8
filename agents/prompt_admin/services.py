"""Writes to prompts: new prompts, new versions, label moves (reviewed when protected), and the
promotion that another admin's approval completes. Every change is audited and announced to
webhooks subscribed to `prompt.*` events."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction
from django.utils import timezone

from agents.prompts.models import Prompt, PromptLabel, PromptLabelMove, PromptVersion, content_hash
from agents.prompts.templates import TemplateErrors, check_content, version_diff, version_lines
from approvals.models import ApprovalRequest, Queue
from approvals.notifications import notify_prompt_event
from approvals.services import _notify_on_commit
from console.kernel import audit
from console.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from console.kernel.roles import ADMINS, is_admin

__all__ = [
    "PROMOTE_ACTION",
    "REVIEW_QUEUE",
    "apply_promotion",
    "create_prompt",
    "diff_of",
    "move_label",
    "pending_promotion",
    "prompt_named",
    "save_version",
    "version_of",
]

REVIEW_QUEUE = "prompt-review"
PROMOTE_ACTION = "prompt.promote"
# `/api/prompts/export` and `/api/prompts/import` are endpoints, so no prompt may take those names.
RESERVED_NAMES = ("export", "import", "new")


def _require_admin(user: Any) -> None:
    if not is_admin(user):
        raise Forbidden("only admins change prompts")


def prompt_named(name: str) -> Prompt:
    prompt = Prompt.objects.filter(name=name).first()
    if prompt is None:
        raise NotFound(f"there is no prompt named {name!r}")
    return prompt


def version_of(prompt: Prompt, number: int) -> PromptVersion:
    version = PromptVersion.objects.filter(prompt=prompt, number=number).select_related("prompt", "author").first()
    if version is None:
        raise NotFound(f"prompt {prompt.name!r} has no version {number}")
    return version


def diff_of(a: PromptVersion | None, b: PromptVersion) -> list[dict[str, Any]]:
    left = version_lines(a.kind, a.template, a.variables, a.model_settings) if a else []
    return version_diff(left, version_lines(b.kind, b.template, b.variables, b.model_settings))


def _announce(event: str, prompt: Prompt, **data: Any) -> None:

    payload = {"event": event, "prompt": prompt.name, **data}
    transaction.on_commit(lambda: notify_prompt_event(event, payload))


def _checked(kind: str, template: Any, variables: Any, model_settings: Any, output_schema: Any) -> dict[str, str]:
    try:
        return check_content(kind, template, variables, model_settings, output_schema)
    except TemplateErrors as exc:
        raise Invalid(exc.errors) from None


def create_prompt(
    user: Any,
    name: str,
    *,
    kind: str = "chat",
    description: str = "",
    template: Any,
    variables: dict[str, str] | None = None,
    model_settings: dict[str, Any] | None = None,
    output_schema: Any = None,
    message: str = "",
    protected_labels: list[str] | None = None,
) -> PromptVersion:
    """A new prompt with its version 1, labelled `production` (a new prompt has nothing to protect
    yet; later moves of `production` are reviewed).

    Raises:
        Forbidden (not an admin); Conflict (the name is taken); Invalid (bad name or template).
    """
    _require_admin(user)

    try:
        validate_slug(name)
    except ValidationError:
        raise Invalid([{"loc": ["body", "name"], "msg": "a name uses letters, digits, - and _ only"}]) from None
    if name in RESERVED_NAMES:
        raise Invalid([{"loc": ["body", "name"], "msg": f"{name!r} is reserved (it names an API endpoint)"}])
    typed = _checked(kind, template, variables, model_settings, output_schema)
    try:
        with transaction.atomic():
            prompt = Prompt.objects.create(
                name=name,
                kind=kind,
                description=description,
                created_by=user,
                protected_labels=list(protected_labels if protected_labels is not None else ["production"]),
            )
            version = _new_version(prompt, user, typed, template, model_settings, output_schema, message, None)
            PromptLabel.objects.create(prompt=prompt, name="production", version=version, updated_by=user)
            PromptLabelMove.objects.create(prompt=prompt, label="production", to_number=1, moved_by=user, note="created")
            audit.record(user, "prompt.created", prompt, version=1)
    except IntegrityError:
        raise Conflict(f"a prompt named {name!r} already exists") from None
    _announce("prompt.version_created", prompt, version=1, author=user.get_username())
    return version


def _new_version(
    prompt: Prompt,
    user: Any,
    typed: dict[str, str],
    template: Any,
    model_settings: Any,
    output_schema: Any,
    message: str,
    base_number: int | None,
    number: int | None = None,
) -> PromptVersion:
    if number is None:
        latest = PromptVersion.objects.filter(prompt=prompt).order_by("-number").values_list("number", flat=True).first()
        number = (latest or 0) + 1
    return PromptVersion.objects.create(
        prompt=prompt,
        number=number,
        kind=prompt.kind,
        template=template,
        variables=typed,
        model_settings=model_settings or {},
        output_schema=output_schema,
        content_hash=content_hash(prompt.kind, template, typed, model_settings or {}, output_schema),
        message=message[:500],
        base_number=base_number,
        author=user if getattr(user, "pk", None) else None,
    )


def save_version(
    user: Any,
    name: str,
    *,
    template: Any,
    variables: dict[str, str] | None = None,
    model_settings: dict[str, Any] | None = None,
    output_schema: Any = None,
    message: str = "",
    base_number: int | None = None,
) -> PromptVersion:
    """Save a new immutable version.

    `base_number` is the version the author started from. If someone saved another version
    since, nothing is saved and a Conflict says so, with the diff from the author's base to the
    latest, so the author can merge and save again (their text is still in their editor).

    Raises:
        Forbidden; NotFound; Invalid (bad template, undefined variables); Conflict (a newer
        version exists than `base_number`; or the content equals the latest version's).
    """
    _require_admin(user)
    prompt = prompt_named(name)
    typed = _checked(prompt.kind, template, variables, model_settings, output_schema)
    with transaction.atomic():
        # One saver at a time per prompt: the number and the stale-base check must agree.
        Prompt.objects.select_for_update().filter(pk=prompt.pk).first()
        latest = PromptVersion.objects.filter(prompt=prompt).order_by("-number").first()
        if latest is not None and base_number is not None and base_number != latest.number:
            base = PromptVersion.objects.filter(prompt=prompt, number=base_number).first()
            who = latest.author_name or "someone"
            raise Conflict(
                {
                    "message": f"{who} saved version {latest.number} after you opened version {base_number}: "
                    "nothing was saved; merge their change and save again",
                    "latest": latest.as_dict(),
                    "diff": diff_of(base, latest),
                }
            )
        digest = content_hash(prompt.kind, template, typed, model_settings or {}, output_schema)
        if latest is not None and latest.content_hash == digest:
            raise Conflict(f"nothing changed: this is the content of version {latest.number}")
        version = _new_version(
            prompt, user, typed, template, model_settings, output_schema, message,
            base_number if base_number is not None else (latest.number if latest else None),
        )
        audit.record(user, "prompt.version_created", prompt, version=version.number, hash=version.content_hash)
    _announce("prompt.version_created", prompt, version=version.number, author=user.get_username())
    return version


def _parse_split(prompt: Prompt, split: Any) -> list[dict[str, Any]]:
    if not split:
        return []
    errors: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    if not isinstance(split, list):
        raise Invalid([{"loc": ["body", "split"], "msg": "a split is a list of {version, weight}"}])
    numbers = set(PromptVersion.objects.filter(prompt=prompt).values_list("number", flat=True))
    for index, part in enumerate(split):
        loc = ["body", "split", index]
        try:
            number, weight = int(part["version"]), float(part["weight"])
        except (KeyError, TypeError, ValueError):
            errors.append({"loc": loc, "msg": "each part needs a version number and a weight"})
            continue
        if number not in numbers:
            errors.append({"loc": [*loc, "version"], "msg": f"version {number} does not exist"})
        if weight <= 0:
            errors.append({"loc": [*loc, "weight"], "msg": "a weight is greater than 0"})
        parts.append({"version": number, "weight": weight})
    if len({p["version"] for p in parts}) != len(parts):
        errors.append({"loc": ["body", "split"], "msg": "each version appears once in a split"})
    if errors:
        raise Invalid(errors)
    return parts


def pending_promotion(prompt: Prompt, label: str) -> ApprovalRequest | None:
    return (
        ApprovalRequest.objects.filter(
            action=PROMOTE_ACTION,
            status=ApprovalRequest.Status.PENDING,
            proposed_args__prompt=prompt.name,
            proposed_args__label=label,
        )
        .order_by("created_at")
        .first()
    )


def _review_queue() -> Queue:
    queue, created = Queue.objects.get_or_create(
        name=REVIEW_QUEUE, defaults={"description": "Moves of protected prompt labels, decided by another admin"}
    )
    if created:
        group, _ = Group.objects.get_or_create(name=ADMINS)
        queue.reviewer_groups.add(group)
    return queue


def _apply_move(
    prompt: Prompt,
    label: str,
    version: PromptVersion,
    split: list[dict[str, Any]],
    moved_by: Any,
    approved_by: Any = None,
    request: ApprovalRequest | None = None,
    note: str = "",
) -> PromptLabelMove:
    row = PromptLabel.objects.select_for_update().filter(prompt=prompt, name=label).select_related("version").first()
    from_number = row.version.number if row else None
    if row is None:
        PromptLabel.objects.create(
            prompt=prompt, name=label, version=version, split=split, updated_by=moved_by, updated_at=timezone.now()
        )
    else:
        PromptLabel.objects.filter(pk=row.pk).update(
            version=version, split=split, updated_by=moved_by, updated_at=timezone.now()
        )
    move = PromptLabelMove.objects.create(
        prompt=prompt,
        label=label,
        from_number=from_number,
        to_number=version.number,
        split=split,
        moved_by=moved_by if getattr(moved_by, "pk", None) else None,
        approved_by=approved_by,
        approval_request=request,
        note=note[:500],
    )
    audit.record(
        moved_by, "prompt.label_moved", prompt, label=label, from_version=from_number, to_version=version.number,
        split=split, approved_by=approved_by.get_username() if approved_by else None,
    )
    _announce("prompt.label_moved", prompt, label=label, from_version=from_number, to_version=version.number, split=split)
    return move


def move_label(
    user: Any, name: str, label: str, number: int, split: Any = None, note: str = ""
) -> tuple[str, PromptLabelMove | ApprovalRequest]:
    """Point `label` at version `number` (optionally splitting traffic by weight).

    Returns:
        ("moved", the history row) when it took effect; ("pending", the approval request) when
        the label is protected and another admin must approve the move.

    Raises:
        Forbidden; NotFound (prompt); Invalid (bad label name, missing version, bad split);
        Conflict (a promotion of this label already waits for review).
    """
    _require_admin(user)
    prompt = prompt_named(name)

    try:
        validate_slug(label)
    except ValidationError:
        raise Invalid([{"loc": ["path", "label"], "msg": "a label uses letters, digits, - and _ only"}]) from None
    version = PromptVersion.objects.filter(prompt=prompt, number=number).first()
    if version is None:
        raise Invalid([{"loc": ["body", "version"], "msg": f"prompt {name!r} has no version {number}"}])
    parts = _parse_split(prompt, split)
    if parts and number not in {p["version"] for p in parts}:
        raise Invalid([{"loc": ["body", "split"], "msg": f"the split must include version {number}, the label's main version"}])
    with transaction.atomic():
        if not prompt.is_protected(label):
            return "moved", _apply_move(prompt, label, version, parts, user, note=note)
        waiting = pending_promotion(prompt, label)
        if waiting is not None:
            raise Conflict(f"a move of {label!r} already waits for review (request {waiting.id})")
        current = PromptLabel.objects.filter(prompt=prompt, name=label).select_related("version").first()
        current_version = current.version if current else None
        request = ApprovalRequest.objects.create(
            queue=_review_queue(),
            requested_by=user,
            action=PROMOTE_ACTION,
            summary=f"Move {prompt.name}@{label} from "
            f"{'v' + str(current_version.number) if current_version else 'nothing'} to v{number}",
            proposed_args={
                "prompt": prompt.name,
                "label": label,
                "version": number,
                "from_version": current_version.number if current_version else None,
                "split": parts,
                "note": note[:500],
                "diff": diff_of(current_version, version),
            },
        )
        audit.record(user, "prompt.promotion_requested", prompt, label=label, version=number, request=str(request.id))
        _announce("prompt.promotion_requested", prompt, label=label, version=number, request_id=str(request.id))

    _notify_on_commit("approval.requested", request)
    return "pending", request


def apply_promotion(request: ApprovalRequest) -> None:
    """Settle handler for promotion requests: an approval moves the label, a rejection does not."""
    args = request.proposed_args
    prompt = Prompt.objects.filter(name=args.get("prompt")).first()
    if prompt is None:
        return
    audit.record(
        request.decided_by, "prompt.promotion_decided", prompt, label=args.get("label"), version=args.get("version"),
        status=request.status, request=str(request.id),
    )
    if request.status != ApprovalRequest.Status.APPROVED:
        _announce("prompt.promotion_decided", prompt, label=args.get("label"), version=args.get("version"), status=request.status)
        return
    version = PromptVersion.objects.get(prompt=prompt, number=int(args["version"]))
    _apply_move(
        prompt, str(args["label"]), version, list(args.get("split") or []),
        moved_by=request.requested_by, approved_by=request.decided_by, request=request, note=str(args.get("note") or ""),
    )
