"""An agent that checks the answer it is resumed with, written the LangGraph docs' way (no
Steward import, a fake model): its node raises on an answer it cannot use, as authors' nodes do.
Registered for tests in tests/support/graphs.py (tests/approvals/test_answer_refused.py).
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send, interrupt

# The order's supplier takes at most this many units: more fails a later node, not the answer.
SUPPLIER_LIMIT = 1000


class OrderState(TypedDict):
    item: str
    question: str
    units: int
    placed: str


def draft_question(state: OrderState) -> dict[str, Any]:
    model = FakeListChatModel(responses=[f"How many units of {state['item']} should we order?"])
    return {"question": str(model.invoke(f"Ask the buyer how many {state['item']} to order.").content)}


def units_from(answer: Any) -> int:
    if isinstance(answer, bool) or not isinstance(answer, int) or answer < 1:
        raise ValueError(f"units must be a positive whole number, got {answer!r}")
    return answer


def ask_units(state: OrderState) -> dict[str, Any]:
    # No response_schema: any JSON answer reaches the node, which checks it itself.
    answer = interrupt({"question": state["question"], "item": state["item"]})
    return {"units": units_from(answer)}


async def ask_units_async(state: OrderState) -> dict[str, Any]:
    answer = interrupt({"question": state["question"], "item": state["item"]})
    return {"units": units_from(answer)}


def place_order(state: OrderState) -> dict[str, Any]:
    if state["units"] > SUPPLIER_LIMIT:
        raise RuntimeError(f"the supplier takes at most {SUPPLIER_LIMIT} units, not {state['units']}")
    return {"placed": f"{state['units']} x {state['item']}"}


def build_order_units(asking: Any = ask_units) -> StateGraph:
    graph = StateGraph(OrderState)
    graph.add_node("draft_question", draft_question)
    graph.add_node("ask_units", asking)
    graph.add_node("place_order", place_order)
    graph.add_edge(START, "draft_question")
    graph.add_edge("draft_question", "ask_units")
    graph.add_edge("ask_units", "place_order")
    graph.add_edge("place_order", END)
    return graph


def build_order_units_async() -> StateGraph:
    """The same with an `async def` question node: the worker runs it through LangGraph's async API."""
    return build_order_units(ask_units_async)


# --- two questions at once (Send), each checking its own answer --------------------------------


class PartsState(TypedDict):
    parts: list[str]
    ordered: Annotated[list[str], operator.add]


def fan_out_parts(state: PartsState) -> list[Send]:
    return [Send("ask_part", {"part": part}) for part in state["parts"]]


def ask_part(state: dict[str, Any]) -> dict[str, Any]:
    units = units_from(interrupt(f"How many {state['part']}?"))
    return {"ordered": [f"{units} x {state['part']}"]}


def build_order_parts() -> StateGraph:
    graph = StateGraph(PartsState)
    graph.add_node("ask_part", ask_part)
    graph.add_conditional_edges(START, fan_out_parts, ["ask_part"])
    graph.add_edge("ask_part", END)
    return graph


# --- the same question inside a subgraph ------------------------------------------------------


def build_order_units_nested() -> StateGraph:
    """The question node in a subgraph added as a node of the parent graph, as LangGraph's docs
    compose graphs."""
    return build_order_units(_question_graph())


def _question_graph() -> Any:
    inner = StateGraph(OrderState)
    inner.add_node("ask_units", ask_units)
    inner.add_edge(START, "ask_units")
    inner.add_edge("ask_units", END)
    return inner.compile()


# Called from a node's own code, as LangGraph's docs call a subgraph with a state of its own.
QUESTION_GRAPH = _question_graph()


def ask_through_subgraph(state: OrderState) -> dict[str, Any]:
    answered = QUESTION_GRAPH.invoke({"item": state["item"], "question": state["question"], "units": 0, "placed": ""})
    return {"units": answered["units"]}


def build_order_units_called() -> StateGraph:
    """The question in a subgraph the node invokes itself (`subgraph.invoke(...)` in a function)."""
    return build_order_units(ask_through_subgraph)


class PurchaseState(TypedDict):
    """A subgraph's state of its own: the keys it shares with the order, and one it keeps."""

    item: str
    question: str
    units: int
    checked_by: str


def note_check(state: PurchaseState) -> dict[str, Any]:
    return {"checked_by": "purchasing"}


def build_order_units_two_deep() -> StateGraph:
    """As LangGraph's docs put an `interrupt()` in a subgraph, two levels down: the order adds a
    purchasing subgraph (a state of its own, sharing the order's keys) as a node, which adds the
    buyer's question subgraph as a node."""
    question = StateGraph(PurchaseState)
    question.add_node("ask_units", ask_units)
    question.add_edge(START, "ask_units")
    question.add_edge("ask_units", END)
    purchasing = StateGraph(PurchaseState)
    purchasing.add_node("note_check", note_check)
    purchasing.add_node("buyer", question.compile())
    purchasing.add_edge(START, "note_check")
    purchasing.add_edge("note_check", "buyer")
    purchasing.add_edge("buyer", END)
    return build_order_units(purchasing.compile())


# --- a node that acts on its answer, then fails: a failure, not a refusal ----------------------

# Orders the tool placed (the test reads it: the action happened once).
PLACED_ORDERS: list[str] = []


@tool
def place_supplier_order(item: str, units: int) -> str:
    """Order `units` of `item` from the supplier."""
    PLACED_ORDERS.append(f"{units} x {item}")
    return "ordered"


def ask_and_order(state: OrderState) -> dict[str, Any]:
    answer = interrupt({"question": state["question"], "item": state["item"]})
    place_supplier_order.invoke({"item": state["item"], "units": int(answer)})
    # The notification after the order fails: the order stands, the node errs.
    raise RuntimeError("the notification service is down")


def build_order_then_notify() -> StateGraph:
    return build_order_units(ask_and_order)
