"""Cassette replay: node code runs, every LangChain model and tool call is answered from the
original's recording, and a call the recording does not hold fails the replay with nothing called.

The agents are written the LangChain/LangGraph docs way (tests/support/docs_agents.py, no Steward
import): `docs_reservation` is a `create_agent` whose tool appends a line to a file and whose fake
model counts its calls; `docs_hotel*` run their tool in LangGraph's `ToolNode`. Only the model is
fake: the worker, the database and the checkpointer are real.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from agents.engine import runtime
from agents.engine.models import Run
from approvals.models import ApprovalRequest
from approvals.services import decide
from console.kernel.errors import Conflict
from tests.support import docs_agents
from tests.support.docs_agents import BOOKINGS, MODEL_CALLS, RESERVER_CALLS
from tests.support.runs import executed_run
from tests.support.waiting import wait_for
from traces.inspection.replay import replay
from traces.recording.models import Span

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def reservations(tmp_path: Path, monkeypatch: Any) -> Path:
    """The file the docs agent's tool writes one line to per reservation: its real side effect."""
    path = tmp_path / "reservations.txt"
    monkeypatch.setattr(docs_agents, "RESERVATIONS_FILE", [path])
    return path


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _finished(client: Any, run_id: str) -> dict[str, Any]:
    """The run as the API shows it, once the worker has stopped it."""
    return wait_for(lambda: (r := client.get(f"/api/runs/{run_id}").json())["status"] in ("succeeded", "failed", "waiting") and r)


def _calls(run_id: str, kind: str) -> list[tuple[str, Any, Any]]:
    return list(Span.objects.filter(run_id=run_id, kind=kind).order_by("seq").values_list("name", "input", "output"))


def _reserved_once(client: Any, party: str, reservations: Path) -> dict[str, Any]:
    started = client.post("/api/runs", {"agent": "docs_reservation", "input": {"hotel": party}})
    assert started.status_code == 201, started.content
    original = _finished(client, started.json()["id"])
    assert original["status"] == "succeeded", original
    assert _lines(reservations) == [party] and f"Table reserved for {party}" in str(original["output"])
    return original


def test_cassette_replay_of_a_create_agent_runs_its_code_and_fires_nothing(
    celery_worker: Any, api: Any, engineer: Any, reservations: Path
) -> None:
    """Through the worker: the replay runs create_agent's nodes again, its model and tool calls
    are answered from the recording: 0 model calls, 0 new reservations, the same output, and a
    trace with the same model and tool calls (the tool's tool_call_id included)."""
    client = api(engineer)
    original = _reserved_once(client, "Okafor, 4", reservations)
    model_calls = RESERVER_CALLS[0]

    made = client.post(f"/api/runs/{original['id']}/replay", {"mode": "cassette"})
    assert made.status_code == 201, made.content
    copy = _finished(client, made.json()["id"])

    assert copy["status"] == "succeeded", copy
    assert RESERVER_CALLS[0] == model_calls, "the model was called again"
    assert _lines(reservations) == ["Okafor, 4"], "the tool reserved again"
    assert copy["output"] == original["output"]
    assert _calls(copy["id"], "model") == _calls(original["id"], "model")
    assert _calls(copy["id"], "tool") == _calls(original["id"], "tool")
    [tool_output] = [output for _, _, output in _calls(copy["id"], "tool")]
    assert tool_output["tool_call_id"] == "call_reserve"
    # The node code ran: new node spans, not copies (a recorded replay would copy them).
    assert Span.objects.filter(run_id=copy["id"], kind="node").count() == Span.objects.filter(run_id=original["id"], kind="node").count()
    assert not Run.objects.get(id=copy["id"]).metadata["replay"]["copied"]


def test_cassette_replay_of_changed_code_fails_and_calls_nothing(
    celery_worker: Any, api: Any, engineer: Any, reservations: Path, monkeypatch: Any
) -> None:
    """The agent's prompt changed since the run (its `@dynamic_prompt`): the model call it makes
    is not in the recording, so the replay fails saying so; no model is called, nothing reserved."""
    client = api(engineer)
    original = _reserved_once(client, "Lindqvist, 2", reservations)
    model_calls = RESERVER_CALLS[0]
    monkeypatch.setattr(docs_agents, "HOUSE_RULES", ["You reserve tables at the Red Door."])

    made = client.post(f"/api/runs/{original['id']}/replay", {"mode": "cassette"})
    assert made.status_code == 201, made.content
    copy = _finished(client, made.json()["id"])

    assert copy["status"] == "failed"
    assert "CassetteMiss" in copy["error"] and "model call in node model at step 1 is not in the recording" in copy["error"]
    assert "other messages" in copy["error"] and "nothing was called" in copy["error"]
    assert RESERVER_CALLS[0] == model_calls and _lines(reservations) == ["Lindqvist, 2"]
    assert not Span.objects.filter(run_id=copy["id"], kind="tool").exists()


def test_recorded_replay_through_the_worker_runs_nothing(celery_worker: Any, api: Any, engineer: Any, reservations: Path) -> None:
    """Recorded (a copy of the checkpoints and spans): no node runs, 0 model calls, 0 new lines."""
    client = api(engineer)
    original = _reserved_once(client, "Haddad, 6", reservations)
    model_calls = RESERVER_CALLS[0]
    made = client.post(f"/api/runs/{original['id']}/replay", {"mode": "recorded"})
    copy = _finished(client, made.json()["id"])
    assert copy["status"] == "succeeded" and copy["output"] == original["output"]
    assert RESERVER_CALLS[0] == model_calls and _lines(reservations) == ["Haddad, 6"]


def test_cassette_replay_plays_back_toolnode_calls_in_a_subgraph(engineer: Any) -> None:
    """The hotel agent as a subgraph: its calls are found by their node path (trip → booking →
    agent/tools), so nothing books again and the model is not called."""
    BOOKINGS.clear()
    original = executed_run("docs_hotel_trip", {"hotel": "Savoy"}, engineer)
    assert original.status == "succeeded" and BOOKINGS == ["Savoy"]
    model_calls = MODEL_CALLS[0]
    copy = replay(original, engineer, mode="cassette")
    assert runtime.execute(copy.id) == "succeeded", Run.objects.get(id=copy.id).error
    copy.refresh_from_db()
    assert BOOKINGS == ["Savoy"] and MODEL_CALLS[0] == model_calls
    assert copy.output == original.output


def test_cassette_replay_of_a_tool_that_asked_a_human_asks_nobody(engineer: Any, reviewer: Any) -> None:
    """The tool called interrupt() and was answered: played back, it neither runs nor asks again."""
    BOOKINGS.clear()
    original = executed_run("docs_hotel_reviewed", {"hotel": "Ritz"}, engineer)
    decide(ApprovalRequest.objects.get(run=original, status="pending").id, reviewer, "answer", value="yes")
    assert runtime.execute(original.id) == "succeeded"
    model_calls = MODEL_CALLS[0]
    copy = replay(original, engineer, mode="cassette")
    assert runtime.execute(copy.id) == "succeeded", Run.objects.get(id=copy.id).error
    assert BOOKINGS == ["Ritz"] and MODEL_CALLS[0] == model_calls
    assert not ApprovalRequest.objects.filter(run=copy).exists()


def test_cassette_replay_refuses_a_run_with_no_recording(engineer: Any, api: Any) -> None:
    """No spans to answer from: refused (409) with the reason, no run made; so is another model."""
    BOOKINGS.clear()
    original = executed_run("docs_hotel", {"hotel": "Adlon"}, engineer)
    runs_before = Run.objects.count()
    bad = api(engineer).post(f"/api/runs/{original.id}/replay", {"mode": "cassette", "model": "scripted-other"})
    assert bad.status_code == 422 and "cannot say what another" in str(bad.json()["detail"])
    Span.objects.filter(run=original).delete()
    with pytest.raises(Conflict, match="no recorded spans"):
        replay(original, engineer, mode="cassette")
    refused = api(engineer).post(f"/api/runs/{original.id}/replay", {"mode": "cassette"})
    assert refused.status_code == 409 and "no recorded spans" in refused.json()["detail"]
    assert Run.objects.count() == runs_before and BOOKINGS == ["Adlon"]


def test_the_preview_lists_toolnode_tool_calls_and_what_a_cassette_does_not_catch(engineer: Any, client: Client) -> None:
    """Before a cassette or live replay the form lists the nodes that run again and every tool
    call recorded in them (here made by LangGraph's ToolNode), with what happens to each."""
    BOOKINGS.clear()
    original = executed_run("docs_hotel", {"hotel": "Claridge"}, engineer)
    client.force_login(engineer)
    fields = {"from_step": "", "state_patch": "", "model": "", "live_from_step": ""}

    cassette = client.post(f"/runs/{original.id}/replay", {**fields, "mode": "cassette"})
    page = cassette.content.decode()
    assert cassette.status_code == 200 and 'id="confirm-replay"' in page
    assert "<code>agent</code>" in page and "<code>tools</code>" in page
    assert "<code>book_hotel</code> {&#x27;hotel_name&#x27;: &#x27;Claridge&#x27;}" in page and "call_book" in page
    assert "played back, not run" in page and "a plain HTTP call" in page
    assert not Run.objects.filter(parent_run=original).exists(), "nothing starts before it is confirmed"

    live = client.post(f"/runs/{original.id}/replay", {**fields, "mode": "live", "from_step": "2"})
    page = live.content.decode()
    assert "<code>tools</code>" in page and "runs again" in page and "a plain HTTP call" not in page
    assert BOOKINGS == ["Claridge"]

    confirmed = client.post(f"/runs/{original.id}/replay", {**fields, "mode": "cassette", "confirm": "yes"})
    assert confirmed.status_code == 302
    copy = Run.objects.get(parent_run=original)
    assert copy.metadata["replay"]["mode"] == "cassette"


def test_the_api_preview_lists_each_tool_call_with_its_approval(engineer: Any, reviewer: Any, api: Any) -> None:
    """POST /api/runs/{id}/replay/preview: the same list as the form, as JSON; nothing starts.
    The hotel tool asked a human (a plain interrupt() inside the tool, run by ToolNode)."""
    BOOKINGS.clear()
    original = executed_run("docs_hotel_reviewed", {"hotel": "Ritz"}, engineer)
    decide(ApprovalRequest.objects.get(run=original, status="pending").id, reviewer, "answer", value="yes")
    assert runtime.execute(original.id) == "succeeded"
    client = api(engineer)

    cassette = client.post(f"/api/runs/{original.id}/replay/preview", {"mode": "cassette"})
    assert cassette.status_code == 200, cassette.content
    body = cassette.json()
    assert body["mode"] == "cassette" and body["runs_code"] and body["live_from"] is None
    assert [(n["step"], n["name"]) for n in body["nodes"]] == [(1, "agent"), (2, "tools"), (3, "agent")]
    # The tool (ToolNode's call, with its id) and the booking it made inside itself.
    call, inner = body["tool_calls"]
    assert (call["name"], call["args"], call["tool_call_id"]) == ("book_hotel", {"hotel_name": "Ritz"}, "call_book")
    assert call["fate"] == "played back, not run" and not call["nested"]
    assert inner["nested"] and inner["fate"] == "not run (inside a played-back tool)"
    assert body["approvals"] == [] and "plain HTTP call" in body["not_intercepted"]

    live = client.post(f"/api/runs/{original.id}/replay/preview", {"mode": "live", "from_step": 2}).json()
    assert [n["name"] for n in live["nodes"]] == ["tools", "agent"] and live["not_intercepted"] == ""
    assert [c["fate"] for c in live["tool_calls"]] == ["runs again", "runs again"]
    # Live, the tool runs again and so asks again (its interrupt()); played back, it did not.
    assert [(a["step"], a["action"]) for a in live["approvals"]] == [(2, "book_hotel")]
    assert not Run.objects.filter(parent_run=original).exists() and BOOKINGS == ["Ritz"]


def test_cassette_replay_of_an_async_graph_that_streams_its_model(engineer: Any) -> None:
    """An `async def` node streaming the model (`astream`), its tool in an async ToolNode
    (`arun`): played back through the async API, nothing books, the model is not called."""
    BOOKINGS.clear()
    original = executed_run("docs_hotel_async", {"hotel": "Negresco"}, engineer)
    assert original.status == "succeeded", original.error
    assert BOOKINGS == ["Negresco"] and "Successfully booked" in str(original.output)
    model_calls = MODEL_CALLS[0]
    copy = replay(original, engineer, mode="cassette")
    assert runtime.execute(copy.id) == "succeeded", Run.objects.get(id=copy.id).error
    copy.refresh_from_db()
    assert BOOKINGS == ["Negresco"] and MODEL_CALLS[0] == model_calls
    assert copy.output == original.output


def test_a_tool_call_not_in_the_recording_fails_the_replay_even_when_the_agent_catches_it(engineer: Any, monkeypatch: Any) -> None:
    """The node that prepares the tool call changed (another spelling): the tool call is not in
    the recording. ToolNode(handle_tool_errors=True) turns the error into a message and the graph
    ends, but the replay fails all the same, naming the call; nothing is booked."""
    BOOKINGS.clear()
    original = executed_run("docs_hotel_tidy", {"hotel": "hotel de crillon"}, engineer)
    assert original.status == "succeeded" and BOOKINGS == ["Hotel De Crillon"]
    monkeypatch.setattr(docs_agents, "TIDY", [str.upper])
    copy = replay(original, engineer, mode="cassette")
    assert runtime.execute(copy.id) == "failed"
    copy.refresh_from_db()
    assert copy.error.startswith("CassetteMiss: cassette replay: a call of tool 'book_hotel' in node tools at step 3")
    assert "other arguments" in copy.error and BOOKINGS == ["Hotel De Crillon"]


def test_cassette_and_the_preview_for_a_gated_tool_in_create_react_agent(engineer: Any, reviewer: Any, api: Any, monkeypatch: Any) -> None:
    """create_react_agent whose ToolNode runs a gated tool, approved: the preview names the tool
    call (its tool_call_id) with its approval in `default`; the cassette replay asks nobody and
    calls no model."""
    from agents.engine import llm

    original = executed_run("toolnode_gate", {"order_id": "T-88"}, engineer)
    decide(ApprovalRequest.objects.get(run=original, status="pending").id, reviewer, "approve")
    assert runtime.execute(original.id) == "succeeded"
    original.refresh_from_db()

    body = api(engineer).post(f"/api/runs/{original.id}/replay/preview", {"mode": "cassette"}).json()
    [call] = [c for c in body["tool_calls"] if not c["nested"]]
    assert (call["name"], call["tool_call_id"], call["fate"]) == ("refund_order", "call_toolnode", "played back, not run")
    assert call["approval"] == {"queue": "default", "status": "approved"}

    calls = [0]
    scripted = llm.ScriptedChatModel._generate

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return scripted(self, *args, **kwargs)

    monkeypatch.setattr(llm.ScriptedChatModel, "_generate", counting)
    copy = replay(original, engineer, mode="cassette")
    assert runtime.execute(copy.id) == "succeeded", Run.objects.get(id=copy.id).error
    copy.refresh_from_db()
    assert calls[0] == 0 and not ApprovalRequest.objects.filter(run=copy).exists()
    assert copy.output == original.output


def test_mixed_replay_plays_back_a_docs_agent_until_the_live_step(engineer: Any) -> None:
    """Mixed, live from step 3: the ToolNode's booking at step 2 is played back (nothing books),
    the model at step 3 is called for real (once)."""
    BOOKINGS.clear()
    original = executed_run("docs_hotel", {"hotel": "Bristol"}, engineer)
    model_calls = MODEL_CALLS[0]
    copy = replay(original, engineer, mode="mixed", live_from_step=3)
    assert runtime.execute(copy.id) == "succeeded", Run.objects.get(id=copy.id).error
    copy.refresh_from_db()
    assert BOOKINGS == ["Bristol"] and MODEL_CALLS[0] == model_calls + 1
    assert copy.output == original.output


def test_calls_a_cassette_cannot_play_back_refuse_to_run(engineer: Any) -> None:
    """In a covered step a text-completion LLM (BaseLLM) and a chat model with no recording fail
    with CassetteMiss; their providers are never reached. Outside a replay they run as usual."""
    from langchain_core.language_models.fake import FakeListLLM
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from langgraph.graph import END, START, StateGraph
    from typing_extensions import TypedDict

    from traces.recording import cassette

    cassette.install()
    original = executed_run("docs_hotel", {"hotel": "Imperial"}, engineer)
    llm, chat = FakeListLLM(responses=["text"]), FakeListChatModel(responses=["chat"])

    class State(TypedDict):
        outcome: str

    def call(state: State) -> State:
        outcomes = []
        for attempt in (lambda: llm.invoke("hi"), lambda: list(llm.stream("hi")), lambda: chat.invoke("hi")):
            try:
                outcomes.append(str(attempt()))
            except cassette.CassetteMiss as miss:
                outcomes.append(f"refused: {miss}")
        return {"outcome": " | ".join(outcomes)}

    graph = StateGraph(State)
    graph.add_node("call", call)
    graph.add_edge(START, "call")
    graph.add_edge("call", END)
    compiled = graph.compile()
    replaying = {"steward_replay": {"mode": "cassette", "source_run_id": str(original.id)}, "steward_run_id": "unit-cassette"}
    try:
        refused = compiled.invoke({"outcome": ""}, {"configurable": replaying})["outcome"].split(" | ")
    finally:
        cassette.forget("unit-cassette")
    assert refused[0] == refused[1] == "refused: cassette replay: a text-completion LLM (BaseLLM) call cannot be played back; nothing was called"
    assert refused[2].startswith("refused: cassette replay: a model call in node call at step 1 is not in the recording")
    assert llm.i == 0 and chat.i == 0, "a provider was reached"
    assert compiled.invoke({"outcome": ""})["outcome"].split(" | ")[0] == "text"
