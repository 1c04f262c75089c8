"""Chat models: the offline scripted model, and real providers through `init_chat_model`."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string
from langchain.chat_models import init_chat_model
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable
from langgraph.config import get_config

from agents.engine.circuit import provider_of
from agents.engine.reliability import Candidate, ResilientModel, retry_policy
from agents.prompts import model_settings_of
from console.kernel.off_loop import off_the_loop
from traces.recording.cassette import Answer, AnsweringChatModel, RecordedChatModel, current
from traces.recording.prices import price

__all__ = ["ScriptedChatModel", "chat_model_for", "count_tokens", "price"]

Script = Callable[[Sequence[BaseMessage]], AIMessage]


def count_tokens(text: str) -> int:
    # A rough, deterministic count (about four characters a token) so costs are stable offline.
    return max(1, (len(text) + 3) // 4)


class ScriptedChatModel(AnsweringChatModel):
    """A fake chat model whose reply is a function of the conversation so far.

    Unlike LangChain's list-driven fake models it keeps no call counter, so a retry or a
    replay of the same conversation gets the same answer.
    """

    script: Script
    model_name: str = "scripted-demo"

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def answer(self, messages: list[BaseMessage]) -> Answer:
        reply = self.script(messages)
        prompt_text = "".join(str(m.content) for m in messages)
        reply_text = str(reply.content) + "".join(str(c.get("args")) for c in reply.tool_calls)
        return Answer(reply, count_tokens(prompt_text), count_tokens(reply_text), self.model_name)


def _configured_model(agent_key: str) -> str:
    return os.environ.get(f"STEWARD_MODEL_{agent_key.upper()}") or settings.STEWARD_AGENT_MODELS.get(
        agent_key, ""
    )


def _is_provider_spec(name: str) -> bool:
    # "openai:gpt-4o-mini" names a provider; "scripted-..." names the offline model.
    return ":" in name and not name.startswith("scripted")


def _build_model(spec: str, script: Script, extra: dict[str, Any]) -> BaseChatModel:
    """One model of a list: the offline model ("scripted-..."), a provider of
    STEWARD_MODEL_FACTORIES ({"gateway": "myco.llm.make_model"}: called with the part after
    ":" and the prompt's temperature/max_tokens), else LangChain's `init_chat_model`."""
    if spec.startswith("scripted"):
        return ScriptedChatModel(script=script, model_name=spec)
    provider, _, name = spec.partition(":")
    factory = (getattr(settings, "STEWARD_MODEL_FACTORIES", None) or {}).get(provider)
    if factory:
        return import_string(factory)(name, **extra)

    return init_chat_model(spec, **extra)


def _provider_models(
    agent_key: str, specs: Sequence[str], script: Script, tools: Sequence[Any], settings_: dict[str, Any]
) -> ResilientModel:
    """The agent's ordered models behind retries, fallbacks and circuit breakers (agents/engine/reliability.py)."""
    extra = {k: v for k, v in settings_.items() if k in ("temperature", "max_tokens") and v is not None}
    candidates = []
    for spec in (s.strip() for s in specs):
        if not spec:
            continue
        chat_model = _build_model(spec, script, extra)
        model: Runnable[Any, Any] = chat_model.bind_tools(list(tools)) if tools else chat_model
        candidates.append(Candidate(spec, provider_of(spec), model))
    return ResilientModel(candidates, lambda: retry_policy(agent_key))


def _replay_model() -> str:
    try:
        return str(get_config().get("configurable", {}).get("steward_model") or "")
    except RuntimeError:
        return ""


def chat_model_for(agent_key: str, script: Script, tools: Sequence[Any] = (), prompt: Any = None) -> Any:
    """The agent's model: a real provider when configured (with fallbacks), else the script.

    Which model, first match wins: a replay's chosen model; the prompt version's model setting
    when it names a provider ("openai:gpt-4o-mini"); `STEWARD_AGENT_MODELS = {"refund":
    "openai:gpt-4o-mini,anthropic:claude-3-5-haiku-latest"}` or `STEWARD_MODEL_REFUND`; else the
    offline scripted model (named after the prompt's model setting, if any). Providers need their
    extra installed (`pip install steward[openai]`) and their usual API key variables.

    A list of models is tried in order (a "scripted-..." entry is the offline model, e.g. as a
    last resort); each with the agent's retries on transient errors, skipping a provider whose
    circuit breaker is open (agents/engine/reliability.py, agents/engine/circuit.py).

    Args:
        prompt: the template from `agents.prompts.get(...)`, for its model settings.
    """

    # The cassette may read the original run's spans: off the event loop in an `async def` node.
    if off_the_loop(current) is not None:
        # A recorded step of a replay: answer from the original run, call nothing (retried
        # where the original was retried or fell back, so its later answers play back too).
        return ResilientModel.replaying(RecordedChatModel())
    model_settings = model_settings_of(prompt)
    override = _replay_model()
    if override:
        # An engineer chose this model for a replay: it wins over every setting.
        if _is_provider_spec(override):
            return _provider_models(agent_key, override.split(","), script, tools, model_settings)
        return ScriptedChatModel(script=script, model_name=override)
    prompt_model = str(model_settings.get("model") or "")
    if _is_provider_spec(prompt_model):
        return _provider_models(agent_key, prompt_model.split(","), script, tools, model_settings)
    configured = _configured_model(agent_key)
    if configured:
        return _provider_models(agent_key, configured.split(","), script, tools, model_settings)
    # The offline model alone: it cannot fail transiently, so nothing wraps it.
    return ScriptedChatModel(script=script, model_name=prompt_model or "scripted-demo")
