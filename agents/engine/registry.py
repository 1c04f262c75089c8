"""Agents are code: a key maps to a builder of an uncompiled LangGraph graph.

Register an agent in a module listed in `STEWARD_AGENT_MODULES`::

    @register_agent("refund", input_schema=RefundInput, description="...",
                    limits=Limits(max_steps=50, max_cost_usd=0.25, on_breach="pause"))
    def build() -> StateGraph: ...

`limits` are the agent's defaults (agents/engine/limits.py); an admin may override them per agent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langgraph.graph import StateGraph
from pydantic import BaseModel

from agents.engine.limits import Limits
from agents.engine.models import Agent
from console.kernel.agent_modules import load_agent_modules

__all__ = ["AgentSpec", "all_agents", "get_agent", "graph_fingerprint", "register_agent", "sync_agents"]


def _default_initial_state(data: BaseModel) -> dict[str, Any]:
    return data.model_dump()


def _default_output(state: dict[str, Any]) -> Any:
    messages = state.get("messages") or []
    if messages:
        return {"answer": getattr(messages[-1], "content", str(messages[-1]))}
    return state


@dataclass(frozen=True)
class AgentSpec:
    key: str
    name: str
    description: str
    build: Callable[[], StateGraph]
    input_schema: type[BaseModel]
    initial_state: Callable[[BaseModel], dict[str, Any]] = _default_initial_state
    output: Callable[[dict[str, Any]], Any] = _default_output
    example_input: dict[str, Any] = field(default_factory=dict)
    # Runs that can reach a gate must checkpoint every step before the next one starts.
    durability: str = "sync"
    # Prompts the agent uses, name → label: resolved and pinned when a run starts.
    prompts: dict[str, str] = field(default_factory=dict)
    # Default limits for its runs (an admin's override in Agent.settings["limits"] wins).
    limits: Limits = field(default_factory=Limits)

    def fingerprint(self) -> str:
        return graph_fingerprint(self.build())


_REGISTRY: dict[str, AgentSpec] = {}


def register_agent(
    key: str,
    *,
    input_schema: type[BaseModel],
    name: str = "",
    description: str = "",
    initial_state: Callable[[BaseModel], dict[str, Any]] | None = None,
    output: Callable[[dict[str, Any]], Any] | None = None,
    example_input: dict[str, Any] | None = None,
    prompts: dict[str, str] | list[str] | None = None,
    limits: Limits | dict[str, Any] | None = None,
) -> Callable[[Callable[[], StateGraph]], Callable[[], StateGraph]]:
    def decorator(build: Callable[[], StateGraph]) -> Callable[[], StateGraph]:
        _REGISTRY[key] = AgentSpec(
            key=key,
            name=name or key.replace("_", " ").title(),
            description=description or (build.__doc__ or "").strip(),
            build=build,
            input_schema=input_schema,
            initial_state=initial_state or _default_initial_state,
            output=output or _default_output,
            example_input=example_input or {},
            prompts=dict(prompts) if isinstance(prompts, dict) else {name: "production" for name in prompts or []},
            limits=limits if isinstance(limits, Limits) else Limits.from_dict(limits),
        )
        return build

    return decorator


def all_agents() -> dict[str, AgentSpec]:
    load_agent_modules()
    return dict(_REGISTRY)


def get_agent(key: str) -> AgentSpec | None:
    load_agent_modules()
    return _REGISTRY.get(key)


def graph_fingerprint(graph: StateGraph) -> str:
    """A hash of the graph's nodes and edges: a replay can tell when the code has changed."""
    drawable = graph.compile().get_graph()
    shape = {
        "nodes": sorted(drawable.nodes),
        "edges": sorted([e.source, e.target, bool(e.conditional)] for e in drawable.edges),
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()


def sync_agents() -> None:
    """Make the Agent rows match the registry (called after migrate and on demand)."""

    specs = all_agents()
    for spec in specs.values():
        Agent.objects.update_or_create(
            key=spec.key,
            defaults={
                "name": spec.name,
                "description": spec.description,
                "input_schema": spec.input_schema.model_json_schema(),
                "example_input": spec.example_input,
                "fingerprint": spec.fingerprint(),
                "is_registered": True,
            },
        )
    Agent.objects.exclude(key__in=list(specs)).update(is_registered=False)
