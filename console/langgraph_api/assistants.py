"""Assistants: every agent (registered in code or from langgraph.json) is one, its `graph_id`
the agent's key and its `assistant_id` the uuid5 of that key (LangGraph Platform's own rule for
a graph's default assistant). Steward keeps no assistant configuration of its own: creating,
changing, deleting and versioning one answer 422 (docs/langgraph-api.md)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from agents.engine.models import Agent
from agents.engine.registry import AgentSpec, all_agents
from console.kernel.errors import Invalid, NotFound
from console.langgraph_api.graphs import compiled
from console.langgraph_api.http import Call, Reply, body_as
from console.langgraph_api.schemas import AssistantSearchIn, assistant_id_of, iso

__all__ = ["assistant_out", "find_assistant"]

_NO_CONFIG = (
    "Steward's assistants are its agents (registered in code or langgraph.json), one per graph, with no "
    "configuration of their own: {what} is not supported. Use the graph's assistant (assistant_id = graph_id) "
    "and set an agent's limits with PUT /api/agents/{{key}}/limits."
)


def find_assistant(assistant_id: str) -> AgentSpec:
    """The agent an assistant id (or a graph id, as the SDK also accepts) names.

    Raises:
        NotFound: no such assistant."""
    agents = all_agents()
    if assistant_id in agents:
        return agents[assistant_id]
    for spec in agents.values():
        if assistant_id_of(spec.key) == assistant_id:
            return spec
    raise NotFound(f"assistant {assistant_id!r} not found")


def assistant_out(spec: AgentSpec, updated: Any = None) -> dict[str, Any]:
    when = iso(updated or timezone.now())
    return {
        "assistant_id": assistant_id_of(spec.key),
        "graph_id": spec.key,
        "config": {},
        "context": {},
        "metadata": {"created_by": "system", "source": spec.source},
        "version": 1,
        "name": spec.key,
        "description": spec.description or None,
        "created_at": when,
        "updated_at": when,
    }


def _updated_times() -> dict[str, Any]:
    return dict(Agent.objects.values_list("key", "updated_at"))


def _matches(spec: AgentSpec, query: AssistantSearchIn) -> bool:
    if query.graph_id and spec.key != query.graph_id:
        return False
    if query.name and query.name.lower() not in spec.key.lower():
        return False
    metadata = {"created_by": "system", "source": spec.source}
    return all(metadata.get(k) == v for k, v in (query.metadata or {}).items())


def _search(call: Call) -> list[dict[str, Any]]:
    query = body_as(AssistantSearchIn, call.body)
    times = _updated_times()
    found = [assistant_out(s, times.get(s.key)) for s in all_agents().values() if _matches(s, query)]
    key = query.sort_by or "created_at"
    found.sort(key=lambda a: str(a.get(key) or ""), reverse=(query.sort_order or "desc") == "desc")
    return found[query.offset : query.offset + query.limit]


def search(call: Call) -> Reply:
    return Reply(_search(call))


def count(call: Call) -> int:
    query = body_as(AssistantSearchIn, call.body)
    return sum(1 for s in all_agents().values() if _matches(s, query))


def get(call: Call, assistant_id: str) -> dict[str, Any]:
    spec = find_assistant(assistant_id)
    return assistant_out(spec, _updated_times().get(spec.key))


def graph(call: Call, assistant_id: str) -> dict[str, Any]:
    """The drawable graph (nodes and edges, as LangGraph's `get_graph().to_json()`)."""
    xray_given = call.query("xray", "false").lower()
    xray: int | bool = int(xray_given) if xray_given.isdigit() else xray_given == "true"
    drawable = compiled(find_assistant(assistant_id)).get_graph(xray=xray)
    data: dict[str, Any] = drawable.to_json()
    return data


def _schema(method: Any) -> dict[str, Any] | None:
    try:
        schema: dict[str, Any] = method()
    except Exception:  # a state pydantic cannot describe (a TypedDict on Python 3.11): no schema
        return {"type": "object"}
    return schema


def _schemas_of(spec: AgentSpec) -> dict[str, Any]:
    graph = compiled(spec)
    return {
        "graph_id": spec.key,
        "input_schema": _schema(graph.get_input_jsonschema),
        "output_schema": _schema(graph.get_output_jsonschema),
        "state_schema": _schema(lambda: graph.get_output_jsonschema()),
        "config_schema": _schema(graph.get_config_jsonschema),
        "context_schema": _schema(graph.get_context_jsonschema) if graph.context_schema else None,
    }


def schemas(call: Call, assistant_id: str) -> dict[str, Any]:
    return _schemas_of(find_assistant(assistant_id))


def subgraphs(call: Call, assistant_id: str, namespace: str | None = None) -> dict[str, Any]:
    graph = compiled(find_assistant(assistant_id))
    recurse = call.query("recurse", "false").lower() == "true"
    found: dict[str, Any] = {}
    for ns, sub in graph.get_subgraphs(namespace=namespace, recurse=recurse):
        found[ns] = {
            "graph_id": ns,
            "input_schema": _schema(sub.get_input_jsonschema),
            "output_schema": _schema(sub.get_output_jsonschema),
            "state_schema": _schema(sub.get_output_jsonschema),
            "config_schema": _schema(sub.get_config_jsonschema),
            "context_schema": None,
        }
    return found


def versions(call: Call, assistant_id: str) -> list[dict[str, Any]]:
    """An assistant has one version: its agent as registered now."""
    spec = find_assistant(assistant_id)
    out = assistant_out(spec, _updated_times().get(spec.key))
    out.pop("updated_at")
    return [out]


def refuse_create(call: Call) -> None:
    raise Invalid([{"loc": ["body"], "msg": _NO_CONFIG.format(what="creating an assistant")}])


def refuse_change(call: Call, assistant_id: str) -> None:
    find_assistant(assistant_id)
    what = {"PATCH": "changing an assistant", "DELETE": "deleting an assistant"}.get(call.request.method or "", "this")
    raise Invalid([{"loc": ["body"], "msg": _NO_CONFIG.format(what=what)}])


def refuse_latest(call: Call, assistant_id: str) -> None:
    find_assistant(assistant_id)
    raise Invalid([{"loc": ["body", "version"], "msg": _NO_CONFIG.format(what="choosing an assistant version")}])
