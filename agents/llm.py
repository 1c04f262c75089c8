"""Public path for agent code: `from agents.engine.llm import chat_model_for`.

Model calls live in the run engine (agents/engine/llm.py; docs/architecture.md)."""

from agents.engine.llm import ScriptedChatModel, chat_model_for

__all__ = ["ScriptedChatModel", "chat_model_for"]
