"""What a run asks of its graph beyond its input (the LangGraph SDK API's runs): its own
`config.configurable` values, its `context`, a `Command(update=..., goto=...)` to start
from instead of an input, and the update/goto that goes with a resume (`Command(resume=...,
update=..., goto=...)`). Kept in the run's metadata under METADATA_KEY, so every execution of
the run (after a crash, after each decision) hands the graph the same values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from langgraph.types import Command

__all__ = ["METADATA_KEY", "GraphCall", "reserved_configurable"]

METADATA_KEY = "graph_call"


def reserved_configurable(key: str) -> bool:
    """Configurable keys a run may not set: where LangGraph and Steward keep the thread, its
    checkpoints and the run's own wiring (agents/engine/runtime.py `run_config`)."""
    return key in ("thread_id", "checkpoint_ns", "checkpoint_id", "checkpoint_map") or key.startswith(("__", "steward_"))


@dataclass(frozen=True)
class GraphCall:
    configurable: dict[str, Any] = field(default_factory=dict)
    context: Any = None
    # {"update": ..., "goto": ...}: the run starts from this Command, not from its input.
    command: dict[str, Any] | None = None
    # {"interrupts": [id, ...], "update": ..., "goto": ...}: given with the resume of those
    # interrupts, in the same Command (as LangGraph's `invoke(Command(resume=..., update=...))`).
    resume_with: dict[str, Any] | None = None
    # The call named a webhook to POST to when the run stops (console/langgraph_api/webhooks.py):
    # said here so that the many runs with none need no lookup when they stop.
    webhook: bool = False

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any] | None) -> GraphCall:
        stored = (metadata or {}).get(METADATA_KEY)
        if not isinstance(stored, dict):
            return cls()
        configurable = stored.get("configurable")
        command = stored.get("command")
        resume_with = stored.get("resume_with")
        return cls(
            {k: v for k, v in configurable.items() if not reserved_configurable(k)} if isinstance(configurable, dict) else {},
            stored.get("context"),
            command if isinstance(command, dict) else None,
            resume_with if isinstance(resume_with, dict) else None,
            stored.get("webhook") is True,
        )

    def as_dict(self) -> dict[str, Any]:
        given = {
            "configurable": self.configurable,
            "context": self.context,
            "command": self.command,
            "resume_with": self.resume_with,
            "webhook": self.webhook,
        }
        return {k: v for k, v in given.items() if v}

    def start_command(self) -> Command | None:
        """The Command the run's first step is given, as LangGraph's `invoke(Command(...))`."""
        if self.command is None:
            return None
        goto = self.command.get("goto")
        return Command(update=self.command.get("update"), goto=goto if goto is not None else ())

    def resume_command(self, decided: dict[str, Any]) -> Command:
        """The Command that resumes these decided interrupts: with the update/goto given with
        the resume of any of them. Once they are resumed their ids are no longer pending, so a
        later interrupt's resume (or a retry after the step saved) does not apply it again."""
        given = self.resume_with or {}
        if not set(decided) & set(given.get("interrupts") or []):
            return Command(resume=decided)
        goto = given.get("goto")
        return Command(resume=decided, update=given.get("update"), goto=goto if goto is not None else ())
