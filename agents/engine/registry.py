"""Agents are code: a key maps to a builder of a LangGraph graph.

Register an agent in a module listed in `STEWARD_AGENT_MODULES`::

    @register_agent("refund", input_schema=RefundInput, description="...",
                    limits=Limits(max_steps=50, max_cost_usd=0.25, on_breach="pause"))
    def build() -> StateGraph: ...

`build` returns an uncompiled StateGraph or a compiled graph (what `create_react_agent` returns);
either way Steward attaches its own checkpointer (`compile_agent`). `limits` are the agent's
defaults (agents/engine/limits.py); an admin may override them per agent.

Beside them, every graph of the LangGraph CLI's langgraph.json named by `STEWARD_LANGGRAPH_JSON`
is an agent with its graph id (agents/engine/langgraph_json.py), its input schema the graph's.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.conf import settings
from django.db import connection
from langchain_core.messages import convert_to_messages, message_to_dict
from langgraph.graph import StateGraph
from langgraph.pregel import Pregel
from pydantic import BaseModel, RootModel

from agents.engine.langgraph_json import GraphEntry, LangGraphJsonError, graph_from, read_langgraph_json
from agents.engine.limits import Limits
from agents.engine.models import Agent
from agents.engine.store import with_store
from console.kernel.agent_modules import load_agent_modules

__all__ = [
    "CODE",
    "LANGGRAPH_JSON",
    "AgentSpec",
    "all_agents",
    "compile_agent",
    "get_agent",
    "graph_fingerprint",
    "is_async_graph",
    "register_agent",
    "reload_langgraph_json",
    "sync_agents",
    "top_level",
]

# Where an agent comes from (GET /api/agents shows it).
CODE = "code"
LANGGRAPH_JSON = "langgraph.json"


def _default_initial_state(data: BaseModel) -> dict[str, Any]:
    return data.model_dump()


def _as_given(data: Any) -> Any:
    return data


def _default_output(state: dict[str, Any]) -> Any:
    messages = state.get("messages") or []
    if messages:
        last = messages[-1]
        # Not getattr's default: str() of a message is built even when `content` is there, and it
        # costs ~1 ms per run (pydantic's repr of every field).
        return {"answer": last.content if hasattr(last, "content") else str(last)}
    return state


@dataclass(frozen=True)
class AgentSpec:
    key: str
    name: str
    description: str
    # An uncompiled StateGraph or a compiled graph (see compile_agent).
    build: Callable[[], StateGraph | Pregel]
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
    # CODE, or LANGGRAPH_JSON with `origin` its "./file.py:attr".
    source: str = CODE
    origin: str = ""
    # A langgraph.json factory taking a RunnableConfig: called with each run's config.
    build_for_run: Callable[[dict[str, Any]], StateGraph | Pregel] | None = None
    # The input as submitted, before the schema validates it (langgraph.json: messages in role form).
    prepare_input: Callable[[Any], Any] = _as_given
    # The graph's output schema (langgraph.json graphs; empty for agents in code).
    output_schema: dict[str, Any] = field(default_factory=dict)

    def fingerprint(self) -> str:
        return self._fingerprint

    @cached_property
    def _fingerprint(self) -> str:
        # Once per process: building, compiling and drawing the graph cost ~4 ms, on every run
        # start and every replay. A spec's code does not change while the process lives (a changed
        # agent is a new spec, registered anew).
        return graph_fingerprint(self.build())

    def input_json_schema(self) -> dict[str, Any]:
        """The input schema as JSON Schema, its fields at the top (a graph's schema is a $ref)."""
        return top_level(self.input_schema.model_json_schema())


def top_level(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with a top-level `$ref` into its `$defs` inlined, so `properties` is at the top."""
    ref = schema.get("$ref", "")
    name = ref.removeprefix("#/$defs/")
    definition = (schema.get("$defs") or {}).get(name) if ref.startswith("#/$defs/") else None
    if definition is None:
        return schema
    inlined = {k: v for k, v in schema.items() if k != "$ref"}
    return {**inlined, **definition, "title": schema.get("title", definition.get("title"))}


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
) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    def decorator(build: Callable[[], Any]) -> Callable[[], Any]:
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
    return {**_REGISTRY, **_langgraph_json_agents()}


def get_agent(key: str) -> AgentSpec | None:
    load_agent_modules()
    return _REGISTRY.get(key) or _langgraph_json_agents().get(key)


# --- langgraph.json ---------------------------------------------------------------------------

# The file's agents, keyed by the path they were read from: a changed setting reads it again.
_from_json: tuple[str, dict[str, AgentSpec]] | None = None


def reload_langgraph_json() -> dict[str, AgentSpec]:
    """Read STEWARD_LANGGRAPH_JSON again (raises LangGraphJsonError naming the graph it cannot load)."""
    global _from_json
    _from_json = None
    return _langgraph_json_agents()


def _langgraph_json_agents() -> dict[str, AgentSpec]:
    global _from_json
    path = getattr(settings, "STEWARD_LANGGRAPH_JSON", "") or ""
    # Read once into a local: another thread's reload may reset the global meanwhile (the
    # embedded server's beat loop and its worker both run the system checks that reload).
    loaded = _from_json
    if loaded is None or loaded[0] != path:
        agents = {entry.graph_id: _spec_of(entry) for entry in read_langgraph_json(path)} if path else {}
        clashes = sorted(set(agents) & set(_REGISTRY))
        if clashes:
            raise LangGraphJsonError(f"graph {clashes[0]!r}: an agent registered in code already has this key")
        loaded = _from_json = (path, agents)
        _add_rows(agents)
    return loaded[1]


def _add_rows(specs: dict[str, AgentSpec]) -> None:
    """Agent rows for the file's graphs as soon as they load, not only after the next migrate
    (skipped before the first migrate: post_migrate's sync_agents makes them then)."""
    if not specs or Agent._meta.db_table not in connection.introspection.table_names():
        return
    _save_rows(specs)


# What the registry owns of a row; `settings` is the operator's and stays as it is.
_FROM_SPEC = ["name", "description", "input_schema", "example_input", "fingerprint", "is_registered", "updated_at"]


def _save_rows(specs: dict[str, AgentSpec]) -> None:
    """Insert or update the specs' rows in one statement (post_migrate runs this after every
    flush of a test database, where a query per agent added up)."""
    rows = [
        Agent(
            key=spec.key,
            name=spec.name,
            description=spec.description,
            input_schema=spec.input_json_schema(),
            example_input=spec.example_input,
            fingerprint=spec.fingerprint(),
            is_registered=True,
        )
        for spec in specs.values()
    ]
    Agent.objects.bulk_create(rows, update_conflicts=True, unique_fields=["key"], update_fields=_FROM_SPEC)


class _AnyInput(RootModel[dict[str, Any]]):
    """The input of a graph whose own schema pydantic cannot build: any JSON object."""


def _input_schema_of(graph: StateGraph | Pregel) -> type[BaseModel]:
    compiled = graph.compile() if isinstance(graph, StateGraph) else graph
    try:
        schema: type[BaseModel] = compiled.get_input_schema()
        schema.model_json_schema()
    except Exception:  # e.g. typing.TypedDict state on Python 3.11, which pydantic refuses
        return _AnyInput
    return schema


def _messages_as_langchain_dicts(data: Any) -> Any:
    """`messages` given as text, as {"role": "user", "content": ...} or as LangChain message
    dicts, in LangChain's dict form (the graph's schema accepts only that)."""
    if not isinstance(data, dict) or "messages" not in data:
        return data
    given = data["messages"]
    if isinstance(given, (str, dict)):
        given = [given]
    try:
        messages = [message_to_dict(m)["data"] for m in convert_to_messages(given)]
    except (TypeError, ValueError, NotImplementedError):
        return data  # left for the schema to refuse, with its own message
    return {**data, "messages": messages}


def _output_schema_of(graph: StateGraph | Pregel) -> dict[str, Any]:
    compiled = graph.compile() if isinstance(graph, StateGraph) else graph
    try:
        return top_level(compiled.get_output_jsonschema())
    except Exception:  # as for the input schema: a state pydantic cannot describe
        return {"type": "object"}


def _graph_input(data: BaseModel) -> dict[str, Any]:
    # Only what was given: LangGraph's reducers treat a key that is present as a write.
    dumped = data.model_dump(exclude_unset=True)
    return dumped if isinstance(dumped, dict) else {}


def _spec_of(entry: GraphEntry) -> AgentSpec:
    try:
        graph = graph_from(entry)
        input_schema = _input_schema_of(graph)
        output_schema = _output_schema_of(graph)
    except LangGraphJsonError:
        raise
    except Exception as exc:
        raise LangGraphJsonError(f"graph {entry.graph_id!r}: building it failed: {type(exc).__name__}: {exc}") from exc
    takes_config = entry.is_factory and bool(inspect.signature(entry.target).parameters)
    return AgentSpec(
        key=entry.graph_id,
        name=entry.graph_id,
        description=entry.description or f"{entry.path} (langgraph.json)",
        # A factory is called again per build: a graph object is shared, so it is returned as is.
        build=(lambda: graph_from(entry)) if entry.is_factory else (lambda: graph),
        input_schema=input_schema,
        initial_state=_graph_input,
        source=LANGGRAPH_JSON,
        origin=entry.path,
        build_for_run=(lambda config: graph_from(entry, config)) if takes_config else None,
        prepare_input=_messages_as_langchain_dicts,
        output_schema=output_schema,
        example_input=entry.example_input or {},
    )


# --- graphs -----------------------------------------------------------------------------------


def compile_agent(spec: AgentSpec, config: dict[str, Any] | None = None) -> Pregel:
    """The agent's compiled graph, without its checkpointer yet. An uncompiled StateGraph is
    compiled; a compiled one keeps what its author compiled in (interrupt_before/after, store,
    cache, name, context schema): only the checkpointer is Steward's (runtime.compiled_graph),
    and the store when the author compiled in none (store.py)."""
    graph = spec.build_for_run(config or {"configurable": {}}) if spec.build_for_run else spec.build()
    return with_store(graph.compile() if isinstance(graph, StateGraph) else graph)


def is_async_graph(graph: Pregel) -> bool:
    """True when a node has only an async function (`async def`): `invoke` would fail with "No
    synchronous function provided", so the graph runs through `ainvoke`."""
    return any(getattr(node.bound, "func", True) is None for node in graph.nodes.values())


def graph_fingerprint(graph: StateGraph | Pregel) -> str:
    """A hash of the graph's nodes and edges: a replay can tell when the code has changed."""
    compiled = graph.compile() if isinstance(graph, StateGraph) else graph
    drawable = compiled.get_graph()
    shape = {
        "nodes": sorted(drawable.nodes),
        "edges": sorted([e.source, e.target, bool(e.conditional)] for e in drawable.edges),
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()


def sync_agents() -> None:
    """Make the Agent rows match the registry (called after migrate and on demand)."""

    specs = all_agents()
    _save_rows(specs)
    Agent.objects.exclude(key__in=list(specs)).update(is_registered=False)
