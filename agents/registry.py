"""Public path for agent code: `from agents.engine.registry import register_agent`.

The registry lives in the run engine (agents/engine/registry.py; docs/architecture.md)."""

from agents.engine.registry import AgentSpec, register_agent

__all__ = ["AgentSpec", "register_agent"]
