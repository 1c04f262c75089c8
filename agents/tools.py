"""Public path for agent code: `from agents.engine.tools import run_tool_calls`.

The tool loop lives in the run engine (agents/engine/tools.py; docs/architecture.md)."""

from agents.engine.tools import run_tool_calls

__all__ = ["run_tool_calls"]
