"""Loading the agent code named by `STEWARD_AGENT_MODULES`, once per process.

Importing an agent module registers its agents (agents/engine/registry.py) and declares its
prompts (agents/prompts): both the engine and the prompt library need them loaded, and the
library sits below the engine, so the loader lives here, below both.
"""

from __future__ import annotations

import importlib

from django.conf import settings

__all__ = ["load_agent_modules"]

_loaded = False


def load_agent_modules() -> None:
    global _loaded
    if _loaded:
        return
    for module in settings.STEWARD_AGENT_MODULES:
        importlib.import_module(module)
    _loaded = True
