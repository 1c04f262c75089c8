"""Prompt templates for the prompt registry's tests."""

from __future__ import annotations


def chat(text: str) -> list[dict[str, str]]:
    """A chat template: a system message with `text`, then the conversation's history."""
    return [{"role": "system", "content": text}, {"role": "placeholder", "name": "history"}]
