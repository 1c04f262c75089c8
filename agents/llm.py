"""Chat models: the offline scripted model, and real providers through `init_chat_model`."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

__all__ = ["ScriptedChatModel", "chat_model_for", "count_tokens", "price"]

Script = Callable[[Sequence[BaseMessage]], AIMessage]


def count_tokens(text: str) -> int:
    # A rough, deterministic count (about four characters a token) so costs are stable offline.
    return max(1, (len(text) + 3) // 4)


class ScriptedChatModel(BaseChatModel):
    """A fake chat model whose reply is a function of the conversation so far.

    Unlike LangChain's list-driven fake models it keeps no call counter, so a retry or a
    replay of the same conversation gets the same answer.
    """

    script: Script
    model_name: str = "scripted-demo"

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:  # type: ignore[override]
        # The script decides which tools to call; binding changes nothing.
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = self.script(messages)
        prompt_text = "".join(str(m.content) for m in messages)
        reply_text = str(reply.content) + "".join(str(c.get("args")) for c in reply.tool_calls)
        tokens_in, tokens_out = count_tokens(prompt_text), count_tokens(reply_text)
        reply.usage_metadata = {
            "input_tokens": tokens_in,
            "output_tokens": tokens_out,
            "total_tokens": tokens_in + tokens_out,
        }
        reply.response_metadata = {"model_name": self.model_name}
        return ChatResult(generations=[ChatGeneration(message=reply)])


def _configured_model(agent_key: str) -> str:
    return os.environ.get(f"STEWARD_MODEL_{agent_key.upper()}") or settings.STEWARD_AGENT_MODELS.get(
        agent_key, ""
    )


def chat_model_for(agent_key: str, script: Script, tools: Sequence[Any] = ()) -> Any:
    """The agent's model: a real provider when configured (with fallbacks), else the script.

    Configure with `STEWARD_AGENT_MODELS = {"refund": "openai:gpt-4o-mini,anthropic:claude-3-5-haiku-latest"}`
    or the environment variable `STEWARD_MODEL_REFUND`. Providers need their extra installed
    (`pip install steward[openai]`) and their usual API key variables.
    """
    from traces.cassette import RecordedChatModel, current

    if current() is not None:
        # A recorded step of a replay: answer from the original run, call nothing.
        return RecordedChatModel()
    configured = _configured_model(agent_key)
    if not configured:
        return ScriptedChatModel(script=script)
    from langchain.chat_models import init_chat_model

    models = [init_chat_model(spec.strip()) for spec in configured.split(",") if spec.strip()]
    if tools:
        models = [m.bind_tools(list(tools)) for m in models]
    primary, fallbacks = models[0], models[1:]
    return primary.with_fallbacks(fallbacks) if fallbacks else primary


def price(model: str, tokens_in: int, tokens_out: int) -> float:
    """Cost in USD from the per-model price table (`STEWARD_MODEL_PRICES`, per 1,000 tokens)."""
    prices = settings.STEWARD_MODEL_PRICES.get(model)
    if not prices:
        return 0.0
    return round(tokens_in / 1000 * prices["input"] + tokens_out / 1000 * prices["output"], 8)
