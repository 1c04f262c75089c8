"""Prompts at run time: `prompts.get("refund_system", label="production")` in agent code.

Agent code declares its prompts with a default (`declare(...)`): on migrate, a declared prompt
that does not exist yet gets that default as version 1 under `production`, and from then on
admins change it in the console. When a run starts, the version behind each declared prompt's
label is resolved once (an A/B split picks by thread, sticky) and pinned on the run
(`Run.prompt_versions` and the `RunPromptVersion` rows); `get()` inside the run returns the
pinned version, so a run, its resumes, its retries and its replays all see the same prompt
unless a replay overrides it.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.dispatch import Signal
from langchain_core.prompts import BasePromptTemplate
from langgraph.config import get_config

from agents.prompts.models import Prompt, PromptLabel, PromptVersion, RunPromptVersion, content_hash
from agents.prompts.templates import build_template, check_content
from console.kernel import audit
from console.kernel.agent_modules import load_agent_modules
from console.kernel.off_loop import in_a_thread, off_the_loop

__all__ = [
    "prompt_pinned_late",
    "DEFAULT_LABEL",
    "PromptDeclaration",
    "PromptNotFound",
    "aget",
    "declare",
    "declared",
    "get",
    "model_settings_of",
    "pick_from_split",
    "pins_for_new_run",
    "resolve",
    "save_pins",
    "sync_prompts",
]

# Sent inside a transaction when a run first uses a prompt it did not declare. Arguments: run_id,
# name, pin (`{"id", "number", "label"}`). A receiver answers True if it pinned the prompt for the
# run (agents/engine/models.py: `Run.pin_prompt_late`), False if the run had pinned it already.
prompt_pinned_late = Signal()

DEFAULT_LABEL = "production"


class PromptNotFound(LookupError):
    pass


@dataclass(frozen=True)
class PromptDeclaration:
    name: str
    template: Any
    kind: str = "chat"
    description: str = ""
    variables: dict[str, str] | None = None
    model_settings: dict[str, Any] = field(default_factory=dict)
    protected_labels: tuple[str, ...] = (DEFAULT_LABEL,)


_DECLARED: dict[str, PromptDeclaration] = {}


def declare(
    name: str,
    template: Any,
    *,
    kind: str = "chat",
    description: str = "",
    variables: dict[str, str] | None = None,
    model_settings: dict[str, Any] | None = None,
    protected_labels: Iterable[str] = (DEFAULT_LABEL,),
) -> PromptDeclaration:
    """Declare a prompt an agent uses, with the content version 1 gets (checked now, at import)."""
    check_content(kind, template, variables, model_settings, None)
    declaration = PromptDeclaration(
        name, template, kind, description, variables, dict(model_settings or {}), tuple(protected_labels)
    )
    _DECLARED[name] = declaration
    return declaration


def declared() -> dict[str, PromptDeclaration]:
    load_agent_modules()
    return dict(_DECLARED)


def sync_prompts() -> int:
    """Create each declared prompt that is missing, with version 1 and its `production` label.
    Existing prompts are never touched: the console owns them once they exist."""

    created = 0
    existing = set(Prompt.objects.values_list("name", flat=True))
    for declaration in declared().values():
        if declaration.name in existing:
            continue
        typed = check_content(
            declaration.kind, declaration.template, declaration.variables, declaration.model_settings, None
        )
        with transaction.atomic():
            prompt = Prompt.objects.create(
                name=declaration.name,
                description=declaration.description,
                kind=declaration.kind,
                protected_labels=list(declaration.protected_labels),
            )
            version = PromptVersion.objects.create(
                prompt=prompt,
                number=1,
                kind=declaration.kind,
                template=declaration.template,
                variables=typed,
                model_settings=declaration.model_settings,
                content_hash=content_hash(declaration.kind, declaration.template, typed, declaration.model_settings, None),
                message="Default from the agent's code",
            )
            PromptLabel.objects.create(prompt=prompt, name=DEFAULT_LABEL, version=version)
            audit.record(None, "prompt.created", prompt, version=1, source="code")
        created += 1
    return created


# --- resolution ---------------------------------------------------------------------------


def pick_from_split(split: list[dict[str, Any]], sticky_key: str) -> int:
    """The version number a sticky key (a thread) gets from a weighted split.

    A hash, not a random draw: the same thread always lands in the same bucket while the
    weights stay the same, with nothing to store.
    """
    total = sum(max(0.0, float(part["weight"])) for part in split)
    point = int(hashlib.sha256(sticky_key.encode()).hexdigest()[:15], 16) / float(16**15) * total
    for part in split:
        point -= max(0.0, float(part["weight"]))
        if point < 0:
            return int(part["version"])
    return int(split[-1]["version"])


def _pin(version: PromptVersion, label: str) -> dict[str, Any]:
    return {"version": version.number, "id": version.pk, "label": label}


def _earlier_pin_in_thread(prompt_id: int, label: str, thread_id: str) -> PromptVersion | None:
    pin = (
        RunPromptVersion.objects.filter(run__thread_id=thread_id, version__prompt_id=prompt_id, label=label)
        .select_related("version")
        .order_by("run__created_at")
        .first()
    )
    return pin.version if pin else None


def _version_for_label(label_row: PromptLabel, thread_id: str | None) -> PromptVersion:
    if not label_row.split or thread_id is None:
        return label_row.version
    # A thread keeps the version it started with, even if the weights change later.
    earlier = _earlier_pin_in_thread(label_row.prompt_id, label_row.name, thread_id)
    if earlier is not None:
        return earlier
    number = pick_from_split(label_row.split, f"{thread_id}:{label_row.prompt_id}:{label_row.name}")
    if number == label_row.version.number:
        return label_row.version
    return PromptVersion.objects.get(prompt_id=label_row.prompt_id, number=number)


def resolve(name: str, label: str = DEFAULT_LABEL, thread_id: str | None = None) -> PromptVersion:
    """The version a label points at (for a split label, the one this thread gets).

    Raises:
        PromptNotFound: no such prompt, or it has no such label.
    """
    row = PromptLabel.objects.select_related("version", "prompt").filter(prompt__name=name, name=label).first()
    if row is None:
        if not Prompt.objects.filter(name=name).exists():
            raise PromptNotFound(f"there is no prompt named {name!r}")
        raise PromptNotFound(f"prompt {name!r} has no label {label!r}")
    return _version_for_label(row, thread_id)


def pins_for_new_run(
    prompt_labels: dict[str, str],
    thread_id: str,
    inherited: dict[str, Any] | None = None,
    overrides: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The pins a new run starts with: inherited ones (a replay keeps its original's), then the
    declared prompts' labels, then explicit overrides ({name: version number}).

    Raises:
        PromptNotFound: an override names a prompt or version that does not exist.
    """
    pins: dict[str, Any] = dict(inherited or {})
    wanted = {name: label for name, label in prompt_labels.items() if name not in pins}
    if wanted:
        rows = PromptLabel.objects.select_related("version", "prompt").filter(prompt__name__in=list(wanted))
        for row in rows:
            if wanted.get(row.prompt.name) == row.name:
                pins[row.prompt.name] = _pin(_version_for_label(row, thread_id), row.name)
    for name, number in (overrides or {}).items():
        version = PromptVersion.objects.filter(prompt__name=name, number=number).first()
        if version is None:
            raise PromptNotFound(
                f"there is no prompt named {name!r}" if not Prompt.objects.filter(name=name).exists()
                else f"prompt {name!r} has no version {number}"
            )
        pins[name] = {"version": version.number, "id": version.pk, "label": "", "override": True}
    return pins


def save_pins(run_id: Any, pins: dict[str, Any]) -> None:
    """The join rows that per-version results and the runs list's prompt filter read."""
    RunPromptVersion.objects.bulk_create(
        [RunPromptVersion(run_id=run_id, version_id=pin["id"], label=pin.get("label", "")) for pin in pins.values()],
        ignore_conflicts=True,
    )


# --- agent code ---------------------------------------------------------------------------

_cache_lock = threading.Lock()
_versions_by_id: dict[int, PromptVersion] = {}


def _version_by_id(version_id: int) -> PromptVersion:
    # Versions never change, so a process may keep them.
    with _cache_lock:
        cached = _versions_by_id.get(version_id)
    if cached is None:
        cached = PromptVersion.objects.select_related("prompt").get(pk=version_id)
        with _cache_lock:
            _versions_by_id[version_id] = cached
    return cached


def _run_configurable() -> dict[str, Any] | None:
    try:
        return get_config().get("configurable", {})
    except RuntimeError:
        return None


def _pin_late(configurable: dict[str, Any], name: str, version: PromptVersion, label: str) -> None:
    """A prompt the agent did not declare is pinned at its first use, for the rest of the run."""
    run_id = configurable.get("steward_run_id")
    pins = configurable.setdefault("steward_prompt_versions", {})
    pins[name] = _pin(version, label)
    if run_id:
        with transaction.atomic():
            # The run's own copy of its pins belongs to the run engine, above this library.
            answers = prompt_pinned_late.send(sender=None, run_id=run_id, name=name, pin=pins[name])
            if any(pinned for _, pinned in answers):
                save_pins(run_id, {name: pins[name]})


def _template_of(version: PromptVersion) -> BasePromptTemplate:
    return build_template(
        version.kind,
        version.template,
        {
            "steward_prompt": version.prompt.name,
            "steward_prompt_version": version.number,
            "steward_prompt_version_id": version.pk,
            "steward_model_settings": version.model_settings,
        },
    )


def get(name: str, label: str = DEFAULT_LABEL) -> BasePromptTemplate:
    """The prompt as a LangChain template: inside a run, the version pinned for the run.

    The template's metadata names the version, so the model span that follows records it,
    and carries the version's model settings (`model_settings_of(template)`).

    From an `async def` node it works too (its queries run off the event loop); `await aget(...)`
    does the same without holding the loop meanwhile.

    Raises:
        PromptNotFound: no such prompt (and none declared in code), or no such label.
    """
    return off_the_loop(_get, name, label)


async def aget(name: str, label: str = DEFAULT_LABEL) -> BasePromptTemplate:
    """`get` for `async def` nodes: the same template, the event loop free while it is read."""
    return await in_a_thread(_get, name, label)


def _get(name: str, label: str) -> BasePromptTemplate:
    configurable = _run_configurable()
    pins = (configurable or {}).get("steward_prompt_versions") or {}
    if name in pins:
        return _template_of(_version_by_id(int(pins[name]["id"])))
    try:
        version = resolve(name, label, thread_id=(configurable or {}).get("thread_id"))
    except PromptNotFound:
        declaration = declared().get(name)
        if declaration is None:
            raise
        # Not migrated yet (a fresh test database, a shell): the code's default, unversioned.
        return build_template(
            declaration.kind,
            declaration.template,
            {"steward_prompt": name, "steward_model_settings": declaration.model_settings},
        )
    if configurable is not None:
        _pin_late(configurable, name, version, label)
    return _template_of(version)


def model_settings_of(template: BasePromptTemplate | None) -> dict[str, Any]:
    return dict(((template.metadata or {}).get("steward_model_settings") or {}) if template is not None else {})
