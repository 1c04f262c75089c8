"""A run's path on its agent's graph, as Mermaid text.

LangGraph draws the graph locally (`compiled.get_graph().draw_mermaid()`; never
`draw_mermaid_png()`, which calls a web service). That text declares each node on a line of its
own, like ``\tagent(agent)`` or ``\t__start__([<p>__start__</p>]):::first``, then one line per
edge (``\tagent -.-> tools;``), then `classDef` lines. `highlight()` rewrites the node
declarations with escaped, quoted labels that carry the run's count per node, and appends
`classDef`/`class` lines (visited, not visited) and `linkStyle` lines for the edges the run took.

Only lines it recognises are rewritten; anything else is kept as drawn. Labels are escaped with
Mermaid's entity codes, so no name can open a bracket, a quote or an HTML tag, and the page
initialises Mermaid with `securityLevel: "strict"` as well.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["HighlightedGraph", "escape_label", "highlight", "path_edges", "safe_id"]

START, END = "__start__", "__end__"

VISITED_STYLE = "fill:#dcfae6,stroke:#1f7a3d,stroke-width:2px,color:#101828"
UNVISITED_STYLE = "fill:#f2f4f7,stroke:#d0d5dd,color:#98a2b3,stroke-dasharray:4 3"
# LangGraph draws conditional edges dotted (`-.->`): a taken one is drawn solid, so the dots
# never say "not taken" about an edge the run took, and every edge not taken is dashed.
PATH_EDGE_STYLE = "stroke:#1f7a3d,stroke-width:3px,stroke-dasharray:0"
OTHER_EDGE_STYLE = "stroke:#d0d5dd,stroke-width:1px,stroke-dasharray:4"
# A node whose latest span failed, or is paused at a gate (drawn over `visited`).
FAILED_STYLE = "fill:#fee4e2,stroke:#b3261e,stroke-width:2px,color:#101828"
PAUSED_STYLE = "fill:#fef0c7,stroke:#9a6700,stroke-width:2px,color:#101828"

# Mermaid's entity codes (`#quot;` and so on): inside a quoted label nothing can close the
# label, open a shape or start an HTML tag.
_ESCAPES = {
    "#": "#35;",
    '"': "#quot;",
    "[": "#91;",
    "]": "#93;",
    "(": "#40;",
    ")": "#41;",
    "{": "#123;",
    "}": "#125;",
    "<": "#60;",
    ">": "#62;",
    "|": "#124;",
    "&": "#38;",
    ";": "#59;",
    "*": "#42;",
    "`": "#96;",
    "\\": "#92;",
}
_SAFE_ID_CHARS = frozenset(string.ascii_letters + string.digits + "_-")

# `\tagent(agent)`, `\t__start__([<p>__start__</p>]):::first`: indent, id, shape and label,
# optional class. The shape's brackets are told apart by `_split_shape`.
_NODE_LINE = re.compile(r"^(?P<indent>\s+)(?P<id>[A-Za-z0-9_\-\\]+)(?P<shape>[(\[{>].*?)(?P<cls>:::[A-Za-z0-9_\-]+)?\s*$")
# Mermaid's node shapes as (opening, closing) brackets, longest first.
_SHAPES = (("([", "])"), ("[[", "]]"), ("[(", ")]"), ("((", "))"), ("{{", "}}"), ("[", "]"), ("(", ")"), ("{", "}"), (">", "]"))
# `\ta --> b;`, `\ta -.-> b;`, `\ta -- &nbsp;x&nbsp; --> b;`, `\ta -. &nbsp;x&nbsp; .-> b;`
_EDGE_LINE = re.compile(r"^\s*(?P<source>[A-Za-z0-9_\-\\]+)\s+(?:-->|-\.->|--\s.*\s-->|-\.\s.*\s\.->)\s+(?P<target>[A-Za-z0-9_\-\\]+);\s*$")


def _split_shape(shape: str) -> tuple[str, str] | None:
    """The opening and closing brackets of a node's shape (`(` and `)`), or None."""
    for opening, closing in _SHAPES:
        if shape.startswith(opening) and shape.endswith(closing) and len(shape) >= len(opening) + len(closing):
            return opening, closing
    return None


def safe_id(key: str) -> str:
    """The Mermaid id LangChain gives a node key (`_to_safe_id` in langchain_core's drawing):
    letters, digits, `_` and `-` as they are, anything else as a backslash and its hex code."""
    return "".join(ch if ch in _SAFE_ID_CHARS else "\\" + format(ord(ch), "x") for ch in key)


def escape_label(text: str) -> str:
    """Text for inside a quoted Mermaid label: brackets, quotes, `<`, `&` and Markdown markers as
    entity codes. An underscore stays unless it touches a non-alphanumeric character or an end
    (where Markdown could read it as emphasis: `__start__` would be drawn as a bold "start")."""
    out = []
    for i, ch in enumerate(text):
        if ch == "_":
            before = text[i - 1] if i > 0 else ""
            after = text[i + 1] if i + 1 < len(text) else ""
            out.append("_" if before.isalnum() and after.isalnum() else "#95;")
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch in "\r\n\t":
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def path_edges(node_steps: Iterable[tuple[str, int | None]], finished: bool) -> set[tuple[str, str]]:
    """The edges a run took, from its node spans' (name, step) pairs: `__start__` to the nodes of
    its first step, every node of one step to every node of the next (the graph decides which of
    those pairs are edges), and the last step's nodes to `__end__` if the run finished normally."""
    by_step: dict[int, set[str]] = {}
    for name, step in node_steps:
        if step is not None:
            by_step.setdefault(step, set()).add(name)
    if not by_step:
        return set()
    steps = sorted(by_step)
    edges = {(START, name) for name in by_step[steps[0]]}
    for earlier, later in zip(steps, steps[1:], strict=False):
        edges |= {(a, b) for a in by_step[earlier] for b in by_step[later]}
    if finished:
        edges |= {(name, END) for name in by_step[steps[-1]]}
    return edges


@dataclass
class HighlightedGraph:
    """The rewritten Mermaid text and what was found in it."""

    text: str
    visited: list[str] = field(default_factory=list)
    unvisited: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    paused: list[str] = field(default_factory=list)
    path_edge_indexes: list[int] = field(default_factory=list)
    # Set when the edge lines could not be matched one to one with the graph's edges: then no
    # edge is styled (a wrong `linkStyle` index makes Mermaid refuse the whole diagram).
    edges_unstyled: bool = False


def highlight(
    drawable: Any,
    counts: Mapping[str, int],
    taken: set[tuple[str, str]] | None = None,
    finished: bool = False,
    last_status: Mapping[str, str] | None = None,
) -> HighlightedGraph:
    """Draw `drawable` (a `langchain_core.runnables.graph.Graph`, from `compiled.get_graph()`)
    with the run's counts in its node labels (``agent × 3``), its visited nodes and edges
    highlighted and the others greyed.

    `counts` maps node names to how many node spans of that name the run has; `taken` is the
    set of (source, target) node names from `path_edges()`; `finished` marks `__end__` reached;
    `last_status` maps node names to the status of their latest span (`error` and `paused` are
    drawn in red and amber).
    """
    graph = drawable.reid()
    text = graph.draw_mermaid()
    by_id = {safe_id(key): key for key in graph.nodes}
    names = {key: node.name for key, node in graph.nodes.items()}
    ran = {name for name, n in counts.items() if n > 0}
    visited_keys = {key for key, name in names.items() if name in ran or key in ran}
    if visited_keys:
        visited_keys.add(START)
    if finished:
        visited_keys.add(END)
    taken = taken or set()

    lines = text.split("\n")
    declared: list[str] = []
    edge_lines: list[tuple[int, str, str]] = []
    for number, line in enumerate(lines):
        edge = _EDGE_LINE.match(line)
        if edge:
            edge_lines.append((len(edge_lines), by_id.get(edge["source"], ""), by_id.get(edge["target"], "")))
            continue
        node = _NODE_LINE.match(line)
        brackets = _split_shape(node["shape"]) if node else None
        if not node or not brackets or node["id"] not in by_id:
            continue
        key = by_id[node["id"]]
        label = names[key]
        count = counts.get(label, counts.get(key, 0)) if key not in (START, END) else 0
        if count:
            label = f"{label} × {count}"
        opening, closing = brackets
        lines[number] = f'{node["indent"]}{node["id"]}{opening}"{escape_label(label)}"{closing}{node["cls"] or ""}'
        declared.append(key)

    result = HighlightedGraph(text="")
    extra: list[str] = []
    result.visited = [k for k in declared if k in visited_keys]
    result.unvisited = [k for k in declared if k not in visited_keys]
    extra.append(f"\tclassDef visited {VISITED_STYLE}")
    extra.append(f"\tclassDef unvisited {UNVISITED_STYLE}")
    if result.visited:
        extra.append("\tclass " + ",".join(safe_id(k) for k in result.visited) + " visited")
    if result.unvisited:
        extra.append("\tclass " + ",".join(safe_id(k) for k in result.unvisited) + " unvisited")
    statuses = last_status or {}
    result.failed = [k for k in result.visited if statuses.get(names[k], statuses.get(k)) == "error"]
    result.paused = [k for k in result.visited if statuses.get(names[k], statuses.get(k)) == "paused"]
    for css, style, keys in (("failed", FAILED_STYLE, result.failed), ("paused", PAUSED_STYLE, result.paused)):
        if keys:
            extra.append(f"\tclassDef {css} {style}")
            extra.append("\tclass " + ",".join(safe_id(k) for k in keys) + f" {css}")
    if len(edge_lines) == len(graph.edges) and all(s and t for _, s, t in edge_lines):
        on_path = [i for i, s, t in edge_lines if (names[s], names[t]) in taken or (s, t) in taken]
        off_path = [i for i, _, _ in edge_lines if i not in on_path]
        result.path_edge_indexes = on_path
        if on_path:
            extra.append("\tlinkStyle " + ",".join(map(str, on_path)) + " " + PATH_EDGE_STYLE)
        if off_path:
            extra.append("\tlinkStyle " + ",".join(map(str, off_path)) + " " + OTHER_EDGE_STYLE)
    else:
        result.edges_unstyled = True
    while lines and not lines[-1].strip():
        lines.pop()
    result.text = "\n".join(lines + extra) + "\n"
    return result
