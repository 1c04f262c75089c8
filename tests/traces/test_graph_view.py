"""The run graph page: the agent's graph drawn by Mermaid with the run's path and counts."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from agents.engine import runtime
from agents.engine.models import Agent, Run
from agents.engine.registry import get_agent
from agents.engine.services import start_run
from tests.support.clients import ClientFor
from traces.inspection.mermaid import escape_label, highlight, path_edges

pytestmark = pytest.mark.django_db(transaction=True)

MERMAID_JS = "vendor/mermaid/mermaid.min.js"


def _mermaid_text(content: bytes) -> str:
    match = re.search(r'<pre class="mermaid" id="run-graph-source">(.*?)</pre>', content.decode(), re.S)
    assert match, "no mermaid block on the page"
    return html.unescape(match.group(1))


def _refund_run(user: Any) -> Run:
    run = start_run("refund", {"order_id": "A-1", "amount": 40, "reason": "broken"}, user)
    assert runtime.execute(run.id) == "succeeded"
    run.refresh_from_db()
    return run


def test_graph_highlights_the_runs_path_with_counts(engineer: Any, client_for: ClientFor) -> None:
    """agent → lookup → agent → refund → agent: agent × 3, lookup and refund × 1, all visited."""
    run = _refund_run(engineer)
    response = client_for(engineer).get(f"/runs/{run.id}/graph")
    assert response.status_code == 200
    text = _mermaid_text(response.content)
    assert text.startswith("---\nconfig:") and "graph TD;" in text
    assert '\tagent("agent × 3")' in text
    assert '\tlookup("lookup × 1")' in text
    assert '\trefund("refund × 1")' in text
    assert "\t__start__([\"#95;#95;start#95;#95;\"]):::first" in text
    visited = re.search(r"^\tclass (\S+) visited$", text, re.M)
    assert visited and set(visited.group(1).split(",")) == {"__start__", "agent", "lookup", "refund", "__end__"}
    assert not re.search(r"^\tclass \S+ unvisited$", text, re.M)
    assert "classDef visited" in text and "classDef unvisited" in text
    # Every edge of the refund graph was taken: start→agent, agent→end/lookup/refund, back to agent.
    assert re.search(r"^\tlinkStyle 0,1,2,3,4,5 stroke:#1f7a3d", text, re.M)
    # Mermaid is initialised strict, loaded from the vendored file, never a CDN.
    body = response.content.decode()
    # The page script is a static file (the CSP allows no inline script).
    assert 'src="/static/console/run-graph.js"' in body
    assert 'securityLevel: "strict"' in (Path(settings.BASE_DIR) / "static/console/run-graph.js").read_text()
    assert f'src="/static/{MERMAID_JS}"' in body
    assert "cdn" not in body.lower() and "draw_mermaid_png" not in body
    assert "graph has changed" not in body


def test_unvisited_nodes_are_greyed(engineer: Any, client_for: ClientFor) -> None:
    """order_summary never has lookup; a stock_check run that fails in tools never reaches __end__."""
    run = start_run("stock_check", {"sku": "BROKEN-1"}, engineer)
    assert runtime.execute(run.id) == "failed"
    text = _mermaid_text(client_for(engineer).get(f"/runs/{run.id}/graph").content)
    assert '\tagent("agent × 1")' in text and '\ttools("tools × 1")' in text
    assert re.search(r"^\tclass __end__ unvisited$", text, re.M)
    # start→agent and agent→tools were taken; agent→end and tools→agent were not.
    assert re.search(r"^\tlinkStyle 0,2 stroke:#1f7a3d", text, re.M)
    assert re.search(r"^\tlinkStyle 1,3 stroke:#d0d5dd", text, re.M)
    # The node that failed is drawn as failed.
    assert re.search(r"^\tclass tools failed$", text, re.M) and "classDef failed" in text


def test_a_run_paused_at_its_gate(engineer: Any, client_for: ClientFor) -> None:
    """A refund over 100 waits at the refund node's gate: that node is drawn paused, __end__ not reached."""
    run = start_run("refund", {"order_id": "A-5", "amount": 500, "reason": "late"}, engineer)
    assert runtime.execute(run.id) == "waiting"
    text = _mermaid_text(client_for(engineer).get(f"/runs/{run.id}/graph").content)
    assert '\trefund("refund × 1")' in text and '\tagent("agent × 2")' in text
    assert re.search(r"^\tclass refund paused$", text, re.M)
    assert re.search(r"^\tclass __end__ unvisited$", text, re.M)


def test_mermaid_only_on_the_graph_page(engineer: Any, client_for: ClientFor) -> None:
    run = _refund_run(engineer)
    client = client_for(engineer)
    assert MERMAID_JS in client.get(f"/runs/{run.id}/graph").content.decode()
    for url in (f"/runs/{run.id}/", f"/runs/{run.id}/checkpoints", "/runs/", "/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "mermaid" not in response.content.decode().lower(), url


def test_unknown_run_is_404_and_outsider_403(engineer: Any, outsider: Any, reviewer: Any, client_for: ClientFor) -> None:
    run = _refund_run(engineer)
    assert client_for(engineer).get("/runs/00000000-0000-0000-0000-000000000000/graph").status_code == 404
    assert client_for(outsider).get(f"/runs/{run.id}/graph").status_code == 403
    assert client_for(reviewer).get(f"/runs/{run.id}/graph").status_code == 200
    anonymous = Client().get(f"/runs/{run.id}/graph")
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]


def test_changed_fingerprint_warns(engineer: Any, client_for: ClientFor) -> None:
    run = _refund_run(engineer)
    Run.objects.filter(id=run.id).update(graph_fingerprint="0" * 64)
    body = client_for(engineer).get(f"/runs/{run.id}/graph").content.decode()
    assert "the agent&#x27;s graph has changed since this run" in body or "the agent's graph has changed since this run" in body
    assert 'id="graph-changed"' in body
    # Still drawn, with the run's counts.
    assert 'agent(&quot;agent × 3&quot;)' in body


def test_unregistered_agent_is_explained_not_500(engineer: Any, client_for: ClientFor) -> None:
    gone = Agent.objects.create(key="retired-agent", name="Retired", is_registered=False)
    run = Run.objects.create(agent=gone, thread_id="t-retired", status=Run.Status.SUCCEEDED, graph_fingerprint="f" * 64)
    response = client_for(engineer).get(f"/runs/{run.id}/graph")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="graph-unregistered"' in body and "no longer registered" in body
    assert "mermaid.min.js" not in body


def test_labels_are_escaped_for_mermaid() -> None:
    """Node names come from code, but a quote, bracket or tag still cannot leave its label."""
    assert escape_label('a"b]c[d(e)f<script>|{x}#') == "a#quot;b#93;c#91;d#40;e#41;f#60;script#62;#124;#123;x#125;#35;"
    assert escape_label("__start__") == "#95;#95;start#95;#95;"
    assert escape_label("tool_node") == "tool_node"
    assert escape_label("a*b*`c`") == "a#42;b#42;#96;c#96;"


def test_highlight_every_demo_agent() -> None:
    """The transform recognises every node and edge line LangGraph draws for the demo agents."""
    for key, nodes in {
        "refund": {"agent", "lookup", "refund"},
        "order_summary": {"agent", "tools"},
        "stock_check": {"agent", "tools"},
        "known": {"plan", "act", "finish"},
    }.items():
        spec = get_agent(key)
        assert spec is not None
        drawable = spec.build().compile().get_graph()
        counts = {name: 2 for name in nodes}
        steps = [(name, i) for i, name in enumerate(sorted(nodes))]
        drawn = highlight(drawable, counts, path_edges(steps, True), finished=True)
        assert not drawn.edges_unstyled, key
        assert set(drawn.visited) == nodes | {"__start__", "__end__"}, key
        for name in nodes:
            assert f'\t{name}("{name} × 2")' in drawn.text, key
        # Exactly the node and edge lines LangGraph drew, plus our class and linkStyle lines.
        original = drawable.draw_mermaid().rstrip("\n").split("\n")
        assert len(drawn.text.rstrip("\n").split("\n")) >= len(original) + 3
        drawn_nothing = highlight(drawable, {}, set(), finished=False)
        assert drawn_nothing.visited == [] and set(drawn_nothing.unvisited) == nodes | {"__start__", "__end__"}


def test_highlight_odd_node_names() -> None:
    """Names with spaces, dots, quotes, brackets and non-ASCII letters: every node and edge line is
    still recognised (LangChain writes such ids as backslash escapes), labels are escaped."""
    from typing import TypedDict

    from langgraph.graph import END, START, StateGraph

    class State(TypedDict):
        x: int

    names = ["check stock", "a.b", "ünï", 'say "hi" [now]']
    graph = StateGraph(State)
    for name in names:
        graph.add_node(name, lambda state: {"x": 1})
    graph.add_edge(START, names[0])
    for a, b in zip(names, names[1:], strict=False):
        graph.add_edge(a, b)
    graph.add_edge(names[-1], END)
    steps = [(name, i) for i, name in enumerate(names[:3], start=1)]
    drawn = highlight(graph.compile().get_graph(), {n: 1 for n in names[:3]}, path_edges(steps, False), False, {"a.b": "error"})
    assert not drawn.edges_unstyled
    assert drawn.visited == ["__start__", "check stock", "a.b", "ünï"]
    assert drawn.unvisited == ['say "hi" [now]', "__end__"] and drawn.failed == ["a.b"]
    assert '\tcheck\\20stock("check stock × 1")' in drawn.text
    assert '("say #quot;hi#quot; #91;now#93;")' in drawn.text
    assert "\tlinkStyle 0,1,2 stroke:#1f7a3d" in drawn.text


def test_taken_edges_are_solid_and_the_others_dashed(engineer: Any, client_for: ClientFor) -> None:
    """LangGraph draws conditional edges (agent → tools, agent → end) dotted; a taken one must not
    look "not taken": its linkStyle draws it solid, and every edge not taken is dashed."""
    run = start_run("stock_check", {"sku": "BROKEN-1"}, engineer)
    assert runtime.execute(run.id) == "failed"
    text = _mermaid_text(client_for(engineer).get(f"/runs/{run.id}/graph").content)
    assert "\tagent -.-> tools;" in text  # conditional: dotted as drawn
    taken = re.search(r"^\tlinkStyle 0,2 (\S+)$", text, re.M)
    assert taken and "stroke-dasharray:0" in taken.group(1).split(",")
    other = re.search(r"^\tlinkStyle 1,3 (\S+)$", text, re.M)
    assert other and "stroke-dasharray:4" in other.group(1).split(",")


def test_the_graph_panel_keeps_dark_labels_in_the_dark_theme(engineer: Any, client_for: ClientFor) -> None:
    """The panel is light in both themes, so its labels must not inherit the dark theme's light text."""
    run = _refund_run(engineer)
    body = client_for(engineer).get(f"/runs/{run.id}/graph").content.decode()
    panel = re.search(r"\.run-graph \{([^}]*)\}", body)
    assert panel and "color: #101828" in panel.group(1) and "color-scheme: light" in panel.group(1)
