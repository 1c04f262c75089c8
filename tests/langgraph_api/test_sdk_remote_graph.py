"""`RemoteGraph` (langgraph.pregel.remote) as a node of a graph that runs in the test process,
the way LangGraph's docs compose a deployed graph: the node's run is a Steward run."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.pregel.remote import RemoteGraph
from langgraph_sdk import get_client, get_sync_client
from typing_extensions import TypedDict

from agents.engine.models import Run
from traces.recording.models import Span

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]


class State(TypedDict, total=False):
    topic: str
    greeting: str
    words: int


def test_remote_graph_as_a_node(sdk_url: str, key_of: Any, engineer: Any) -> None:
    key = key_of(engineer)
    remote = RemoteGraph(
        "lg_plain",
        url=sdk_url,
        api_key=key,
        client=get_client(url=sdk_url, api_key=key),
        sync_client=get_sync_client(url=sdk_url, api_key=key),
    )
    # The remote graph's drawing comes from the assistant's /graph.
    assert {"greet", "count"} <= set(remote.get_graph().nodes)

    builder = StateGraph(State)
    builder.add_node("remote", remote)
    builder.add_edge(START, "remote")
    builder.add_edge("remote", END)
    parent = builder.compile()

    out = parent.invoke({"topic": "tea"})
    assert out["greeting"].endswith(": tea") and out["words"] == len(out["greeting"].split())
    (run,) = Run.objects.filter(agent__key="lg_plain")
    assert run.status == "succeeded"
    assert sorted(Span.objects.filter(run=run, kind="node").values_list("name", flat=True)) == ["count", "greet"]
