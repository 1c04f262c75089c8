"""Agents API: the agents this Steward runs (from code and from langgraph.json) and each agent's
limits (read by engineers and reviewers, set by admins)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from agents.engine.limits import AgentLimitsIn, agent_limits
from agents.engine.models import Agent
from agents.engine.registry import AgentSpec, all_agents, get_agent
from agents.engine.services import set_agent_limits
from console.kernel.auth import role_auth
from console.kernel.errors import NotFound
from console.kernel.roles import can_read_runs, is_admin
from console.kernel.schemas import ErrorOut

__all__ = ["router"]

router = Router(tags=["agents"])

READ = role_auth(can_read_runs, "read agents")
ADMIN = role_auth(is_admin, "change an agent's limits (admins only)")


class AgentLimitsOut(Schema):
    agent: str
    limits: dict[str, Any]
    defaults: dict[str, Any]
    override: dict[str, Any]


class AgentOut(Schema):
    key: str
    name: str
    description: str
    # "code" (registered with register_agent) or "langgraph.json" (STEWARD_LANGGRAPH_JSON).
    source: str
    # A langgraph.json graph's "./file.py:attr"; empty for agents in code.
    origin: str
    input_schema: dict[str, Any]
    # The graph's output schema (langgraph.json); empty for agents in code.
    output_schema: dict[str, Any]


def _agent_out(spec: AgentSpec) -> dict[str, Any]:
    return {
        "key": spec.key,
        "name": spec.name,
        "description": spec.description,
        "source": spec.source,
        "origin": spec.origin,
        "input_schema": spec.input_json_schema(),
        "output_schema": spec.output_schema,
    }


@router.get("", auth=READ, response={200: list[AgentOut], 401: ErrorOut, 403: ErrorOut})
def list_agents(request: HttpRequest) -> list[dict[str, Any]]:
    """Every agent, by key: those registered in code and those of langgraph.json."""
    return [_agent_out(spec) for _, spec in sorted(all_agents().items())]


@router.get("/{key}", auth=READ, response={200: AgentOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut})
def get_one_agent(request: HttpRequest, key: str) -> dict[str, Any]:
    """One agent: where it comes from and its input schema."""
    spec = get_agent(key)
    if spec is None:
        raise NotFound(f"unknown agent {key!r}")
    return _agent_out(spec)


def _limits_out(key: str) -> dict[str, Any]:
    spec = get_agent(key)
    agent = Agent.objects.filter(key=key).first()
    if spec is None or agent is None:
        raise NotFound(f"unknown agent {key!r}")
    effective = agent_limits(spec, agent).as_dict()
    defaults = spec.limits.as_dict()
    for data in (effective, defaults):
        data.pop("set_for_run", None)
    return {
        "agent": key,
        "limits": effective,
        "defaults": defaults,
        "override": (agent.settings or {}).get("limits") or {},
    }


@router.get("/{key}/limits", auth=READ, response={200: AgentLimitsOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut})
def get_limits(request: HttpRequest, key: str) -> dict[str, Any]:
    """The agent's effective limits, its code's defaults and the admin's override."""
    return _limits_out(key)


@router.put(
    "/{key}/limits",
    auth=ADMIN,
    response={200: AgentLimitsOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def put_limits(request: HttpRequest, key: str, body: AgentLimitsIn) -> dict[str, Any]:
    """Replace the admin's override of the agent's limits (admins only). Fields left out come
    from the code's defaults; `null` means no limit. New runs get them; runs already created
    keep the limits they started with."""
    set_agent_limits(key, body.model_dump(exclude_unset=True), request.user)
    return _limits_out(key)

