"""The prompt playground: render a version with typed values and send it to a chat model once.

The model is the one an agent that declares the prompt would get (`chat_model_for`, so the
version's model setting or the agent's configured provider, else the agent's offline script);
a prompt no agent uses gets a scripted model that only describes what it received. Nothing is
recorded: no run, no span, no audit row. The reply is returned as text for the page to escape,
redacted like everything else Steward displays (console/kernel/redaction.py): the rendered prompt, the
reply, its tool calls and an error. The form keeps the values as typed.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from agents.engine.llm import Script, ScriptedChatModel, chat_model_for
from agents.engine.registry import AgentSpec, all_agents
from agents.prompts.models import PromptVersion
from agents.prompts.templates import build_template, render
from console.kernel.redaction import redact, redact_text

__all__ = ["PlaygroundResult", "agent_for", "describe_script", "run_playground", "sample_values"]

logger = logging.getLogger(__name__)

# How much of the last message the describing script quotes back.
QUOTE_CHARS = 200


@dataclass
class PlaygroundResult:
    rendered: list[dict[str, str]] | str
    reply: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    model: str = ""
    scripted: bool = True
    agent: str = ""
    # The model call failed (a script that expects the agent's conversation, a provider error).
    error: str = ""

    @property
    def is_text(self) -> bool:
        return isinstance(self.rendered, str)


def describe_script(messages: Sequence[BaseMessage]) -> AIMessage:
    """The reply of the scripted model for prompts no agent declares: deterministic, and it says
    what it got, so the rendered prompt is visibly what reached the model."""
    last = str(messages[-1].content) if messages else ""
    quoted = last if len(last) <= QUOTE_CHARS else last[:QUOTE_CHARS] + "…"
    count = len(messages)
    return AIMessage(
        content=f"(scripted model) I received {count} message{'' if count == 1 else 's'}; the last says: {quoted}"
    )


def agent_for(prompt_name: str) -> AgentSpec | None:
    """The first agent (by key) whose declared prompts include this one."""
    for key in sorted(agents := all_agents()):
        if prompt_name in agents[key].prompts:
            return agents[key]
    return None


def _script_of(spec: AgentSpec | None) -> Script:
    module = sys.modules.get(spec.build.__module__) if spec else None
    script = getattr(module, "script", None)
    return script if callable(script) else describe_script


def _as_dicts(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    return [{"type": m.type, "content": m.content if isinstance(m.content, str) else json.dumps(m.content)} for m in messages]


def sample_values(version: PromptVersion) -> dict[str, str]:
    """Starting values for the form: a `messages` variable gets the conversation the declaring
    agent starts from its example input (so its script has what it expects), as JSON."""
    spec = agent_for(version.prompt.name)
    values: dict[str, str] = {}
    messages: list[dict[str, str]] = []
    if spec is not None and spec.example_input:
        try:
            state = spec.initial_state(spec.input_schema(**spec.example_input))
            messages = _as_dicts([m for m in state.get("messages", []) if isinstance(m, BaseMessage)])
        except Exception:  # an agent's own code: a bad example must not break the page
            logger.warning("no sample conversation for %s", spec.key, exc_info=True)
    for name, kind in (version.variables or {}).items():
        if kind == "messages":
            values[name] = json.dumps(messages, indent=2, ensure_ascii=False)
    return values


def run_playground(version: PromptVersion, values: dict[str, Any]) -> PlaygroundResult:
    """Render `version` with `values`, then call the model once with the result.

    Raises:
        TemplateErrors: a value is missing or of the wrong type (nothing was sent).
    """
    rendered = render(version.kind, version.template, version.variables or {}, values)
    spec = agent_for(version.prompt.name)
    template = build_template(
        version.kind, version.template, {"steward_model_settings": version.model_settings or {}}
    )
    result = PlaygroundResult(
        rendered=redact_text(rendered) if isinstance(rendered, str) else redact(_as_dicts(rendered)),
        model=str((version.model_settings or {}).get("model") or ""),
        agent=spec.key if spec else "",
    )
    try:
        model = chat_model_for(spec.key if spec else "playground", _script_of(spec), prompt=template)
        result.scripted = isinstance(model, ScriptedChatModel)
        if result.scripted:
            result.model = model.model_name
        reply = model.invoke(rendered)
    except Exception as exc:  # the script or the provider: show what went wrong, keep the values
        logger.info("playground model call failed", exc_info=True)
        result.error = redact_text(f"{type(exc).__name__}: {exc}")
        return result
    content = reply.content if isinstance(reply.content, str) else json.dumps(reply.content, ensure_ascii=False)
    result.reply = redact_text(content)
    result.tool_calls = [
        {
            "name": call.get("name", ""),
            "args": json.dumps(redact(call.get("args", {})), ensure_ascii=False, sort_keys=True),
        }
        for call in getattr(reply, "tool_calls", None) or []
    ]
    return result
