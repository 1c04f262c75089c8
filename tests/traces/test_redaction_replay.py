"""Secrets in a real run: redacted on pages, in the API, exports and logs, and in the database;
sealed for recorded replay, which gives back exactly what the original calls returned."""

from __future__ import annotations

import json
import logging
import operator
from collections.abc import Iterator, Sequence
from datetime import timedelta
from io import StringIO
from typing import Annotated, Any, TypedDict

import pytest
from django.db import connection
from django.test import Client, override_settings
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel

from agents.engine import registry, runtime
from agents.engine.checkpointer import checkpointer
from agents.engine.llm import chat_model_for
from agents.engine.models import Run
from agents.engine.services import start_run
from console.kernel.errors import Conflict
from console.kernel.sealing import open_json
from tests.support.logs import json_log_lines
from traces.inspection.export import export_run
from traces.inspection.replay import replay
from traces.recording.models import SealedRunInput, Span

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CARD = "4111 1111 1111 1111"
DIGITS = CARD.replace(" ", "")
# What the tool would answer now: a live call would differ from the recording.
CARDS = {"C-1": CARD}
log = logging.getLogger("tests.card_lookup")


class CustomerInput(BaseModel):
    customer: str
    note: str = ""


class CardState(TypedDict):
    customer: str
    note: str
    card_info: str
    answer: str
    log: Annotated[list[str], operator.add]


@tool
def find_card(customer: str) -> str:
    """The card on file for a customer."""
    card = CARDS[customer]
    log.info("found card %s for %s", card, customer)
    return json.dumps({"customer": customer, "card": card})


def _answer_script(messages: Sequence[BaseMessage]) -> AIMessage:
    found = json.loads(str(messages[-1].content))
    return AIMessage(content=f"The card on file for {found['customer']} is {found['card']}.")


def lookup_node(state: CardState, config: RunnableConfig) -> dict[str, Any]:
    from agents.engine.tools import run_tool_calls

    call = {"name": "find_card", "args": {"customer": state["customer"]}, "id": "call_card", "type": "tool_call"}
    results = run_tool_calls([find_card], AIMessage(content="", tool_calls=[call]), config)
    return {"card_info": str(results[0].content), "log": ["lookup"]}


def answer_node(state: CardState, config: RunnableConfig) -> dict[str, Any]:
    reply = chat_model_for("card_lookup", _answer_script).invoke([HumanMessage(state["card_info"])], config)
    return {"answer": str(reply.content), "log": ["answer"]}


def build_card_lookup() -> StateGraph:
    graph = StateGraph(CardState)
    graph.add_node("lookup", lookup_node)
    graph.add_node("answer", answer_node)
    graph.add_edge(START, "lookup")
    graph.add_edge("lookup", "answer")
    graph.add_edge("answer", END)
    return graph


@pytest.fixture
def card_agent() -> Iterator[None]:
    """An agent whose tool returns a card number, registered for this test only."""
    registry.register_agent(
        "card_lookup", input_schema=CustomerInput, output=lambda s: {"answer": s["answer"], "note": s["note"]}
    )(build_card_lookup)
    CARDS["C-1"] = CARD
    try:
        yield
    finally:
        registry._REGISTRY.pop("card_lookup", None)


@pytest.fixture
def json_lines() -> Iterator[StringIO]:
    with json_log_lines({log.name: logging.INFO}) as stream:
        yield stream


def _state(run: Run) -> dict[str, Any]:
    """The graph state as the worker saved it (checkpoints are not redacted)."""
    spec = registry.get_agent(run.agent.key)
    assert spec is not None
    with checkpointer() as saver:
        return dict(runtime.compiled_graph(spec, saver).get_state({"configurable": {"thread_id": run.thread_id}}).values)


def _raw_rows(sql: str, run_id: Any) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, [run_id])
        return list(cursor.fetchall())


def _assert_no_card(text: str, where: str) -> None:
    assert CARD not in text and DIGITS not in text, f"{where} shows the card number"


def test_replay_reproduces_a_card_number_that_every_view_shows_redacted(
    card_agent: None, engineer: Any, api: Any, json_lines: StringIO
) -> None:
    original = start_run("card_lookup", {"customer": "C-1"}, engineer)
    assert runtime.execute(original.id) == "succeeded"
    original.refresh_from_db()
    assert _state(original)["answer"] == f"The card on file for C-1 is {CARD}."

    # Stored redacted, and the database holds no plain text of it anywhere in the span rows.
    tool_span = Span.objects.get(run=original, kind="tool")
    model_span = Span.objects.get(run=original, kind="model")
    assert "[redacted:card]" in json.dumps(tool_span.output) and "[redacted:card]" in json.dumps(model_span.output)
    assert original.output == {"answer": "The card on file for C-1 is [redacted:card].", "note": ""}
    rows = _raw_rows("SELECT input::text, output::text, error, sealed FROM traces_span WHERE run_id = %s", original.id)
    for input_text, output_text, error, sealed in rows:
        for value in (input_text, output_text, error):
            _assert_no_card(value or "", "a span column")
        assert sealed is None or (DIGITS.encode() not in bytes(sealed) and CARD.encode() not in bytes(sealed))
    sealed_kinds = {kind for kind, sealed in Span.objects.filter(run=original).values_list("kind", "sealed") if sealed}
    assert sealed_kinds == {"tool", "model"}, "only the calls a replay answers keep a sealed original"
    for text in _raw_rows("SELECT input::text || output::text || error || error_traceback FROM agents_run WHERE id = %s", original.id)[0]:
        _assert_no_card(text, "the run row")

    # The tool would answer differently now: a recorded replay must give back the original.
    CARDS["C-1"] = "5555 5555 5555 4444"
    copy = replay(original, engineer, mode="recorded")
    assert runtime.execute(copy.id) == "succeeded"
    copy.refresh_from_db()
    assert _state(copy)["answer"] == f"The card on file for C-1 is {CARD}."
    assert _state(copy)["card_info"] == _state(original)["card_info"]
    for kind in ("tool", "model"):
        a, b = Span.objects.get(run=original, kind=kind), Span.objects.get(run=copy, kind=kind)
        assert open_json(b.sealed, b.id.bytes) == open_json(a.sealed, a.id.bytes)
        assert b.output == a.output

    # Pages, API, export and logs show it redacted.
    client = Client()
    client.force_login(engineer)
    for run in (original, copy):
        pages = [f"/runs/{run.id}/", f"/runs/{run.id}/spans", f"/runs/{run.id}/checkpoints"]
        pages += [f"/runs/{run.id}/spans/{seq}/" for seq in Span.objects.filter(run=run).values_list("seq", flat=True)]
        for page in pages:
            response = client.get(page)
            assert response.status_code == 200, page
            _assert_no_card(response.content.decode(), page)
        assert "[redacted:card]" in client.get(f"/runs/{run.id}/").content.decode()
        reader = api(engineer)
        for path in (f"/api/runs/{run.id}", f"/api/runs/{run.id}/steps"):
            response = reader.get(path)
            assert response.status_code == 200
            _assert_no_card(response.content.decode(), path)
        exported = json.dumps(export_run(run))
        _assert_no_card(exported, "the export")
        assert "[redacted:card]" in exported and '"sealed"' not in exported
    found = [json.loads(line) for line in json_lines.getvalue().splitlines() if "found card" in line]
    assert len(found) == 1, (
        "the tool ran once (the original), not again in the recorded replay: "
        f"{len(found)} lines; root level {logging.getLogger().level}, handlers {logging.getLogger().handlers}"
    )
    assert found[0]["event"] == "found card [redacted:card] for C-1"
    _assert_no_card(json_lines.getvalue(), "the log")


def test_a_run_input_is_stored_redacted_and_the_graph_gets_it_as_submitted(card_agent: None, engineer: Any, api: Any) -> None:
    note = f"customer asked to use {CARD} with password=hunter22"
    run = start_run("card_lookup", {"customer": "C-1", "note": note}, engineer)
    assert run.input == {"customer": "C-1", "note": "customer asked to use [redacted:card] with password=[redacted:secret]"}
    raw = _raw_rows("SELECT input::text FROM agents_run WHERE id = %s", run.id)[0][0]
    _assert_no_card(raw, "agents_run.input")
    assert b"hunter22" not in bytes(SealedRunInput.objects.get(run=run).sealed)
    assert runtime.execute(run.id) == "succeeded"
    assert _state(run)["note"] == note, "the worker started from the input as submitted"
    run.refresh_from_db()
    assert run.output["note"] == run.input["note"]
    _assert_no_card(api(engineer).get(f"/api/runs/{run.id}").content.decode(), "the API")

    copy = replay(run, engineer, mode="recorded")
    assert runtime.execute(copy.id) == "succeeded"
    assert _state(copy)["note"] == note, "a replay from the start gets the original input too"

    plain = start_run("card_lookup", {"customer": "C-1", "note": "no secrets"}, engineer)
    assert not SealedRunInput.objects.filter(run=plain).exists(), "nothing to seal, nothing sealed"

    # Retention prunes a finished run's replay material: its sealed input goes with its spans.
    from django.utils import timezone

    from traces.inspection.retention import prune_finished_runs

    prune_finished_runs(now=timezone.now() + timedelta(days=30), days=7)
    assert not SealedRunInput.objects.filter(run_id__in=[run.id, copy.id]).exists()


def test_sealed_values_follow_secret_key_rotation_and_fail_clearly_without_the_key(card_agent: None, engineer: Any) -> None:
    """The default key is derived from SECRET_KEY: an old key kept in SECRET_KEY_FALLBACKS still
    opens what it sealed; without it a recorded replay (which re-seals the copied spans) is
    refused and says why, and nothing is written."""
    from django.conf import settings

    original = start_run("card_lookup", {"customer": "C-1"}, engineer)
    assert runtime.execute(original.id) == "succeeded"
    old = settings.SECRET_KEY
    with override_settings(SECRET_KEY="a-new-secret-key-" + "x" * 40, SECRET_KEY_FALLBACKS=[old]):
        copy = replay(Run.objects.get(id=original.id), engineer, mode="recorded")
        assert runtime.execute(copy.id) == "succeeded"
        assert _state(copy)["answer"].endswith(f"{CARD}.")
    queued = start_run("card_lookup", {"customer": "C-1", "note": f"card {CARD}"}, engineer)
    with override_settings(SECRET_KEY="a-new-secret-key-" + "x" * 40, SECRET_KEY_FALLBACKS=[]):
        runs_before = Run.objects.count()
        with pytest.raises(Conflict, match="sealed with another encryption key") as refused:
            replay(Run.objects.get(id=original.id), engineer, mode="recorded")
        assert "replay it live" in str(refused.value)
        assert Run.objects.count() == runs_before
        assert runtime.execute(queued.id) == "failed"
        queued.refresh_from_db()
        assert "SealError" in queued.error and "not configured" in queued.error
        with pytest.raises(Conflict, match="sealed with another encryption key"):
            replay(queued, engineer, mode="recorded")


def test_an_imported_trace_is_stored_redacted(engineer: Any, api: Any) -> None:
    """A document from elsewhere may hold secrets: they are redacted before anything is stored."""
    from tests.support.trace_documents import valid_document

    document = valid_document()
    document["run"]["input"] = {"note": f"card {CARD}"}
    document["spans"][1]["output"] = {"type": "ai", "content": "use key sk-proj-4bQ9xK2mP7vR1sT8wY3zA6cD0eF5gH"}
    response = api(engineer).post("/api/runs/import", document)
    assert response.status_code == 201, response.content
    run = Run.objects.get(id=response.json()["id"])
    assert run.input == {"note": "card [redacted:card]"}
    assert Span.objects.get(run=run, seq=document["spans"][1]["seq"]).output["content"] == "use key [redacted:openai_key]"
