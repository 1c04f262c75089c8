"""The `agents` app's models, as Django finds them: each is defined in the layer that owns it
(docs/architecture.md). Import them from there, not from here."""

from agents.demo.models import Refund
from agents.engine.models import Agent, IdempotencyRecord, Run
from agents.prompts.models import Prompt, PromptLabel, PromptLabelMove, PromptVersion, RunPromptVersion

__all__ = [
    "Agent", "IdempotencyRecord", "Prompt", "PromptLabel", "PromptLabelMove", "PromptVersion", "Refund", "Run",
    "RunPromptVersion",
]
