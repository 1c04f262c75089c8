"""What the run page's replay form posts, read into the arguments of `traces.inspection.replay.replay`.

The form posts the step to replay from, the mode (recorded, cassette, mixed or live), the step a mixed
replay goes live from, a JSON object of state keys to patch, a model to use instead, and for each
prompt the run pinned the version to use (`prompt__<name>`). Parsing never raises: what cannot be
read is a field error, and the typed values are kept for the page to show again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

__all__ = ["FIELDS", "ReplayForm"]

FIELDS = ("from_step", "mode", "live_from_step", "state_patch", "model")


def _int(raw: str) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if raw.lstrip("-").isdigit() else None


@dataclass
class ReplayForm:
    # The fields as typed, by name (FIELDS).
    values: dict[str, str]
    # `traces.inspection.replay.prompt_choices` of the run, each with the version now `selected`.
    choices: list[dict[str, Any]]
    errors: dict[str, str] = field(default_factory=dict)
    state_patch: dict[str, Any] | None = None
    # The prompts given another version than the run pinned: {name: version number}.
    prompt_versions: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_post(cls, post: QueryDict, choices: list[dict[str, Any]]) -> ReplayForm:
        form = cls(values={name: post.get(name, "") for name in FIELDS}, choices=choices)
        if form.values["state_patch"].strip():
            try:
                form.state_patch = json.loads(form.values["state_patch"])
                if not isinstance(form.state_patch, dict):
                    raise ValueError
            except ValueError:
                form.errors["state_patch"] = "must be a JSON object of state keys and values, e.g. {\"topic\": \"x\"}"
        for choice in choices:
            number = _int(post.get(f"prompt__{choice['name']}", ""))
            choice["selected"] = number if number is not None else choice["pinned"]
            if number is not None and number != choice["pinned"]:
                form.prompt_versions[choice["name"]] = number
        return form

    @property
    def from_step(self) -> int | None:
        return _int(self.values["from_step"])

    @property
    def live_from_step(self) -> int | None:
        return _int(self.values["live_from_step"])

    def needs_confirmation(self, post: QueryDict) -> bool:
        """Any replay that runs node code again (live, mixed, cassette, or recorded with a change)
        shows the safety preview and is confirmed first; only a plain recorded copy is not."""
        changed = self.state_patch is not None or self.prompt_versions or self.values["model"].strip()
        runs_code = self.values["mode"] in ("live", "mixed", "cassette") or bool(changed)
        return runs_code and post.get("confirm") != "yes"

    def replay_arguments(self) -> dict[str, Any]:
        """The keyword arguments of `traces.inspection.replay.replay` (after the run and the user)."""
        return {
            "from_step": self.from_step,
            "mode": self.values["mode"] or "recorded",
            "live_from_step": self.live_from_step,
            "state_patch": self.state_patch,
            "prompt_versions": self.prompt_versions or None,
            "model": self.values["model"].strip() or None,
        }

    @staticmethod
    def service_errors(detail: Any) -> dict[str, str]:
        """The replay service's `Invalid` detail by field (`loc` ["body", field]; else "form")."""
        return {str(e["loc"][1]) if len(e["loc"]) > 1 else "form": e["msg"] for e in detail}
