"""Which model an agent's node gets: a replay's choice, then the prompt's provider, then the
deployment's configured provider, else the offline scripted model."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.prompts import ChatPromptTemplate

from agents.engine.llm import ScriptedChatModel, chat_model_for
from agents.prompts import model_settings_of


def _script(messages: Any) -> Any:
    raise AssertionError("not called")


def _prompt(model: str) -> ChatPromptTemplate:
    template = ChatPromptTemplate.from_messages([("system", "hi")])
    template.metadata = {"steward_model_settings": {"model": model, "temperature": 0}}
    return template


def test_a_scripted_prompt_model_names_the_offline_model() -> None:
    model = chat_model_for("refund", _script, prompt=_prompt("scripted-demo"))
    assert isinstance(model, ScriptedChatModel) and model.model_name == "scripted-demo"
    assert model_settings_of(_prompt("x"))["model"] == "x"


def test_a_configured_provider_is_used_even_when_the_prompt_names_the_scripted_model(monkeypatch: Any) -> None:
    # No provider package is installed here: reaching for OpenAI proves the configured model won.
    monkeypatch.setenv("STEWARD_MODEL_REFUND", "openai:gpt-4o-mini")
    with pytest.raises(ImportError, match="langchain.openai|langchain_openai"):
        chat_model_for("refund", _script, prompt=_prompt("scripted-demo"))


def test_a_provider_in_the_prompt_wins_over_the_scripted_default() -> None:
    with pytest.raises(ImportError, match="langchain.anthropic|langchain_anthropic"):
        chat_model_for("refund", _script, prompt=_prompt("anthropic:claude-3-5-haiku-latest"))
