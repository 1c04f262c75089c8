"""The example agents shipped in agents/examples/ (written purely the LangGraph / LangChain way,
loaded through their own langgraph.json, which `make demo` uses): each one, started from the API
with its sample input, pauses with an approval request in the `default` queue the demo reviewers
review; answering it lets the run finish with the tool's real effect. The real worker runs them.

How each interrupt shape is shown and which answers it takes is tests/approvals/test_interrupt_shapes.py's;
here: that the shipped examples reach that far, and that nothing in them imports Steward.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agents.engine.registry import get_agent
from tests.support.processes import ROOT, fresh_django, fresh_env
from tests.support.waiting import wait_for

EXAMPLES = ROOT / "agents" / "examples"
LANGGRAPH_JSON = EXAMPLES / "langgraph.json"


@pytest.fixture
def examples(settings: Any) -> Iterator[Path]:
    """STEWARD_LANGGRAPH_JSON set to the shipped examples' langgraph.json, as `make demo` sets it."""
    settings.STEWARD_LANGGRAPH_JSON = str(LANGGRAPH_JSON)
    yield LANGGRAPH_JSON


def _module(graph_id: str) -> Any:
    # The module langgraph.json loaded the graph from (agents/engine/langgraph_json.py names it).
    return sys.modules[f"langgraph_json_{graph_id}"]


def _user_says(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def _answer_email(request: dict[str, Any]) -> dict[str, Any]:
    to = [a["args"]["to"] for a in request["interrupt"]["actions"]]
    assert to == ["ana@example.com", "bo@example.com"]
    return {"decision": "approve", "actions": [{"decision": "approve"}, {"decision": "reject", "comment": "not Bo"}]}


def _answer_parcel(request: dict[str, Any]) -> dict[str, Any]:
    return {"decision": "answer", "value": "ship" if "P-1" in request["interrupt"]["value"] else "hold"}


def _emailed(run: dict[str, Any]) -> None:
    sent = [e["to"] for e in _module("email_assistant").SENT if e["subject"] == "the March invoice"]
    assert sent == ["ana@example.com"]
    # The model read both tool results: the email sent, and the reviewer's reason for the other.
    assert "sent to ana@example.com: the March invoice" in run["output"]["answer"]
    assert "not Bo" in run["output"]["answer"]


def _booked(run: dict[str, Any]) -> None:
    assert _module("hotel_booking").BOOKINGS[-1:] == ["Hotel Tivoli"]
    assert run["output"] == {"answer": "Successfully booked a stay at Hotel Tivoli."}


def _flown(run: dict[str, Any]) -> None:
    assert _module("inbox_flights").FLIGHTS[-1:] == ["Porto"]
    assert run["output"] == {"answer": "Booked a flight to Porto."}


def _replied(run: dict[str, Any]) -> None:
    assert _module("async_triage").REPLIES[-1:] == ["Refunded the second charge."]
    assert run["output"]["category"] == "billing" and run["output"]["sent"] is True


def _shipped(run: dict[str, Any]) -> None:
    assert run["output"]["summary"] == "P-1: ship, P-2: hold"


Answer = Callable[[dict[str, Any]], dict[str, Any]]
# graph id → (sample input, the interrupt's kind, how many requests, the answer to each, what the run did)
CASES: dict[str, tuple[dict[str, Any], str, int, Answer, Callable[[dict[str, Any]], None]]] = {
    "email_assistant": (
        _user_says("email ana@example.com, bo@example.com about the March invoice"), "hitl_batch", 1, _answer_email, _emailed,
    ),
    "hotel_booking": (
        _user_says("book a stay at the McKittrick Hotel"), "free_form", 1,
        lambda request: {"decision": "answer", "value": {"type": "edit", "args": {"hotel_name": "Hotel Tivoli"}}}, _booked,
    ),
    "inbox_flights": (
        _user_says("fly to Lisbon"), "agent_inbox", 1, lambda request: {"decision": "edit", "args": {"destination": "Porto"}}, _flown,
    ),
    "async_triage": (
        {"ticket": "I was charged twice for my March invoice"}, "free_form", 1,
        lambda request: {"decision": "answer", "value": {"reply": "Refunded the second charge."}}, _replied,
    ),
    "parallel_checks": ({"parcels": ["P-1", "P-2"]}, "free_form", 2, _answer_parcel, _shipped),
}


def test_the_examples_import_no_steward_code() -> None:
    steward = {"agents", "approvals", "console", "traces"}
    for path in sorted(EXAMPLES.glob("*.py")):
        tree = ast.parse(path.read_text())
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not {name.split(".")[0] for name in imported} & steward, path.name


@pytest.mark.django_db
def test_every_example_is_an_agent_of_the_examples_langgraph_json(examples: Path) -> None:
    for graph_id in CASES:
        spec = get_agent(graph_id)
        assert spec is not None and spec.description, graph_id


@pytest.mark.parametrize("graph_id", list(CASES))
@pytest.mark.django_db(transaction=True)
def test_each_example_pauses_for_a_reviewer_and_finishes_once_answered(
    celery_worker: Any, examples: Path, api: Any, engineer: Any, reviewer: Any, graph_id: str
) -> None:
    data, kind, count, answer, outcome = CASES[graph_id]
    eng, rev = api(engineer), api(reviewer)
    started = eng.post("/api/runs", {"agent": graph_id, "input": data})
    assert started.status_code == 201, started.content
    run_id = started.json()["id"]

    def pending() -> list[dict[str, Any]] | None:
        run = eng.get(f"/api/runs/{run_id}").json()
        assert run["status"] != "failed", run
        items = [a for a in rev.get("/api/approvals", status="pending").json()["items"] if a["run_id"] == run_id]
        return items if run["status"] == "waiting" and len(items) == count else None

    for item in wait_for(pending):
        request = rev.get(f"/api/approvals/{item['id']}").json()
        assert request["queue"] == "default" and request["interrupt"]["kind"] == kind, request
        decided = rev.post(f"/api/approvals/{item['id']}/decision", answer(request))
        assert decided.status_code == 200, decided.content

    run = wait_for(lambda: (d := eng.get(f"/api/runs/{run_id}").json())["status"] in ("succeeded", "failed") and d)
    assert run["status"] == "succeeded", run
    outcome(run)


def test_the_shipped_langgraph_json_loads_in_a_fresh_process(tmp_path: Path) -> None:
    """What `make demo` does with it (the Makefile sets it): `manage.py check` loads every example."""
    env = fresh_env(
        without=("DATABASE_URL", "CELERY_BROKER_URL", "CHANNEL_LAYER_URL"),
        STEWARD_VAR_DIR=str(tmp_path / "var"),
        STEWARD_LANGGRAPH_JSON=str(LANGGRAPH_JSON),
    )
    checked = fresh_django("manage.py", "check", env=env)
    assert checked.returncode == 0, checked.stderr
