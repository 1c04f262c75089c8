"""Agents from the LangGraph CLI's own config: `STEWARD_LANGGRAPH_JSON=path/to/langgraph.json`.

A team brings its graphs as they are, in the file `langgraph dev` and LangGraph Platform read::

    {"dependencies": ["."], "graphs": {"support": "./agent.py:graph"}, "env": ".env"}

- `graphs`: id → `"./file.py:attr"` (relative to the file) or `"package.module:attr"`. The
  attribute is a compiled graph (what `create_react_agent` and `create_agent` return), an
  uncompiled `StateGraph`, or a factory taking nothing or a `RunnableConfig` and returning either.
- `dependencies`: local paths go on `sys.path`; package names must already be importable (they are
  reported when missing, never installed).
- `env`: a dotenv file (or a mapping) whose variables are set before the graphs are imported,
  without overriding what the environment already has.

What it cannot load is an error naming the graph (`LangGraphJsonError`): the system check
(agents/checks.py) turns it into a failed `manage.py check`, so `make demo` and `make serve` stop
before anything starts.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.graph import StateGraph
from langgraph.pregel import Pregel

__all__ = ["GraphEntry", "LangGraphJsonError", "graph_from", "is_graph", "read_langgraph_json"]


class LangGraphJsonError(RuntimeError):
    """langgraph.json, or one of its graphs, cannot be loaded."""


@dataclass(frozen=True)
class GraphEntry:
    """One graph of langgraph.json: the object its path names (a graph or a factory)."""

    graph_id: str
    path: str
    target: Any
    description: str
    example_input: dict[str, Any] | None = None

    @property
    def is_factory(self) -> bool:
        return not is_graph(self.target)


def is_graph(value: Any) -> bool:
    return isinstance(value, (StateGraph, Pregel))


def graph_from(entry: GraphEntry, config: dict[str, Any] | None = None) -> Any:
    """The entry's graph (compiled or not); a factory is called, with `config` if it takes one."""
    if not entry.is_factory:
        return entry.target
    factory: Callable[..., Any] = entry.target
    takes_config = bool(inspect.signature(factory).parameters)
    graph = factory(config or {"configurable": {}}) if takes_config else factory()
    if inspect.isawaitable(graph):
        raise LangGraphJsonError(f"graph {entry.graph_id!r}: async factories are not supported; return the graph itself")
    if not is_graph(graph):
        raise LangGraphJsonError(
            f"graph {entry.graph_id!r}: its factory returned {type(graph).__name__}, not a StateGraph or compiled graph"
        )
    return graph


def read_langgraph_json(path: str | Path) -> list[GraphEntry]:
    """Every graph the file lists, imported; raises LangGraphJsonError naming what failed."""
    file = Path(path).expanduser().resolve()
    try:
        config = json.loads(file.read_text())
    except FileNotFoundError:
        raise LangGraphJsonError(f"STEWARD_LANGGRAPH_JSON: {file} does not exist") from None
    except (OSError, ValueError) as exc:
        raise LangGraphJsonError(f"STEWARD_LANGGRAPH_JSON: {file} cannot be read: {exc}") from None
    graphs = config.get("graphs") if isinstance(config, dict) else None
    if not isinstance(graphs, dict) or not graphs:
        raise LangGraphJsonError(f"{file}: no `graphs` map of id → \"./file.py:attr\"")
    base = file.parent
    _load_env(config.get("env"), base, file)
    _add_dependencies(config.get("dependencies") or [], base, file)
    return [_entry(graph_id, spec, base) for graph_id, spec in graphs.items()]


def _load_env(env: Any, base: Path, file: Path) -> None:
    if not env:
        return
    if isinstance(env, dict):
        values = {str(k): str(v) for k, v in env.items()}
    else:
        env_file = (base / str(env)).resolve()
        if not env_file.is_file():
            raise LangGraphJsonError(f"{file}: its env file {env_file} does not exist")
        values = _dotenv(env_file.read_text())
    for name, value in values.items():
        os.environ.setdefault(name, value)


def _dotenv(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.removeprefix("export ").partition("=")
        values[name.strip()] = value.strip().strip("'\"")
    return values


def _add_dependencies(dependencies: list[Any], base: Path, file: Path) -> None:
    missing = []
    for dependency in dependencies:
        name = str(dependency)
        if name.startswith((".", "/")):
            local = str((base / name).resolve())
            if local not in sys.path:
                sys.path.insert(0, local)
        elif importlib.util.find_spec(re.split(r"[\[<>=!~; ]", name, maxsplit=1)[0].replace("-", "_")) is None:
            missing.append(name)
    if missing:
        raise LangGraphJsonError(f"{file}: dependencies not installed (Steward never installs them): {', '.join(missing)}")


def _entry(graph_id: str, spec: Any, base: Path) -> GraphEntry:
    if isinstance(spec, dict):  # {"path": "./a.py:graph", "description": "..."} as the CLI accepts
        path, description = str(spec.get("path", "")), str(spec.get("description", ""))
    else:
        path, description = str(spec), ""
    where, _, attr = path.rpartition(":")
    if not where or not attr:
        raise LangGraphJsonError(f"graph {graph_id!r}: {path!r} is not \"./file.py:attr\" or \"package.module:attr\"")
    try:
        module = _import(graph_id, where, base)
    except LangGraphJsonError:
        raise
    except BaseException as exc:  # what the author's module raises, a SystemExit included
        raise LangGraphJsonError(f"graph {graph_id!r}: importing {where} failed: {type(exc).__name__}: {exc}") from exc
    if not hasattr(module, attr):
        raise LangGraphJsonError(f"graph {graph_id!r}: {where} has no attribute {attr!r}")
    target = getattr(module, attr)
    if not is_graph(target) and not callable(target):
        raise LangGraphJsonError(
            f"graph {graph_id!r}: {path} is {type(target).__name__}, not a graph (a StateGraph, a compiled graph or a factory)"
        )
    doc = (inspect.getdoc(module) or "").strip()
    description = description or (doc.splitlines()[0] if doc else "")
    return GraphEntry(graph_id=graph_id, path=path, target=target, description=description, example_input=_try_it(doc))


_TRY_IT = re.compile(r"Try it with `(\{.*?\})`", re.DOTALL)


def _try_it(doc: str) -> dict[str, Any] | None:
    """The sample input a module's docstring offers as "Try it with `{...}`" (the start form's
    first value), when it is a JSON object."""
    match = _TRY_IT.search(doc)
    if match is None:
        return None
    try:
        value = json.loads(match.group(1))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _import(graph_id: str, where: str, base: Path) -> Any:
    if not where.endswith(".py"):
        return importlib.import_module(where)
    file = (base / where).resolve()
    if not file.is_file():
        raise LangGraphJsonError(f"graph {graph_id!r}: {file} does not exist")
    # One module per graph file, named after the graph: two files called agent.py do not collide.
    name = "langgraph_json_" + re.sub(r"\W", "_", graph_id)
    module_spec = importlib.util.spec_from_file_location(name, file)
    if module_spec is None or module_spec.loader is None:
        raise LangGraphJsonError(f"graph {graph_id!r}: {file} cannot be imported")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module
