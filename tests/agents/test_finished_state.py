"""A run's end state from invoke's own output (agents/engine/runtime.py `_finished_state`): only
when that output is the state a snapshot shows and the graph cannot have stopped early."""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import Interrupt
from typing_extensions import TypedDict

from agents.engine.runtime import _finished_state


class State(TypedDict):
    topic: str
    draft: str


class Answer(TypedDict):
    draft: str


def _write(state: State) -> dict[str, Any]:
    return {"draft": f"about {state['topic']}"}


def _graph(**compile_args: Any) -> Any:
    builder = StateGraph(State, output_schema=compile_args.pop("output_schema", None))
    builder.add_node("write", _write)
    builder.add_edge(START, "write")
    builder.add_edge("write", END)
    return builder.compile(**compile_args)


def test_a_graph_that_ran_to_its_end_needs_no_read_back() -> None:
    graph = _graph()
    output = graph.invoke({"topic": "tides"})
    finished = _finished_state(graph, output)
    assert finished is not None and finished.values == {"topic": "tides", "draft": "about tides"} and finished.interrupts == ()


def test_anything_that_may_have_stopped_early_or_shows_less_is_read_back() -> None:
    graph = _graph()
    assert _finished_state(graph, {"topic": "x", "__interrupt__": [Interrupt(value="ok?", id="i1")]}) is None
    assert _finished_state(graph, None) is None
    assert _finished_state(_graph(interrupt_before=["write"]), {"topic": "x"}) is None
    assert _finished_state(_graph(interrupt_after=["write"]), {"topic": "x", "draft": "y"}) is None
    # An output schema: invoke returns less than the state the run's output is made from.
    assert _finished_state(_graph(output_schema=Answer), {"draft": "y"}) is None
