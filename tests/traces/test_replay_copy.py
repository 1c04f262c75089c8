"""A recorded replay copies the original's checkpoints and spans: no node code runs, for any agent.

The agents are written the LangGraph docs way (tests/support/docs_agents.py, no Steward import):
their tool books a hotel (a row in `BOOKINGS`) and their fake model counts its calls.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from agents.engine import runtime
from agents.engine.checkpointer import checkpointer
from agents.engine.models import Run
from agents.engine.registry import get_agent
from agents.engine.runtime import compiled_graph
from approvals.models import ApprovalRequest
from approvals.services import decide
from console.kernel.errors import Conflict
from tests.support.docs_agents import BOOKINGS, MODEL_CALLS
from tests.support.runs import executed_run
from traces.inspection.replay import replay
from traces.recording.models import Span

pytestmark = pytest.mark.django_db(transaction=True)


def _chain(thread_id: str) -> list[tuple[str, str, str | None]]:
    """(checkpoint_ns, checkpoint_id, parent_checkpoint_id) of every checkpoint of the thread."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT checkpoint_ns, checkpoint_id, parent_checkpoint_id FROM checkpoints WHERE thread_id = %s "
            "ORDER BY checkpoint_ns, checkpoint_id",
            [thread_id],
        )
        return [tuple(row) for row in cursor.fetchall()]


def _writes(thread_id: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT checkpoint_ns, checkpoint_id, task_id, idx, channel FROM checkpoint_writes WHERE thread_id = %s "
            "ORDER BY checkpoint_ns, checkpoint_id, task_id, idx",
            [thread_id],
        )
        return [tuple(row) for row in cursor.fetchall()]


def _state(run: Run) -> Any:
    spec = get_agent(run.agent.key)
    assert spec is not None
    with checkpointer() as saver:
        return compiled_graph(spec, saver).get_state({"configurable": {"thread_id": run.thread_id}}, subgraphs=True)


def _span_names(run: Run) -> list[tuple[str, str, int | None]]:
    return list(Span.objects.filter(run=run).order_by("seq").values_list("kind", "name", "step"))


def _assert_copied(original: Run, copy: Run) -> None:
    assert _chain(copy.thread_id) == _chain(original.thread_id)
    assert _writes(copy.thread_id) == _writes(original.thread_id)
    before, after = _state(original), _state(copy)
    assert after.values == before.values and after.next == before.next
    assert after.config["configurable"]["checkpoint_id"] == before.config["configurable"]["checkpoint_id"]
    assert _span_names(copy) == _span_names(original)
    assert not set(Span.objects.filter(run=copy).values_list("id", flat=True)) & set(
        Span.objects.filter(run=original).values_list("id", flat=True)
    )


def test_recorded_replay_of_a_docs_agent_books_nothing_and_calls_no_model(engineer: Any) -> None:
    """The hotel agent booked once; its recorded replay ends the same way with 0 bookings,
    0 model calls and 0 tool calls, on a copy of the original's checkpoints and spans."""
    BOOKINGS.clear()
    original = executed_run("docs_hotel", {"hotel": "McKittrick"}, engineer)
    assert original.status == "succeeded" and BOOKINGS == ["McKittrick"]
    model_calls = MODEL_CALLS[0]
    copy = replay(original, engineer, mode="recorded")
    assert runtime.execute(copy.id) == "succeeded"
    copy.refresh_from_db()
    assert BOOKINGS == ["McKittrick"], "the tool ran again"
    assert MODEL_CALLS[0] == model_calls, "the model was called again"
    assert copy.output == original.output and copy.span_count == original.span_count
    _assert_copied(original, copy)


def test_recorded_replay_of_a_docs_agent_that_asked_a_human_asks_nobody(engineer: Any, reviewer: Any) -> None:
    """Paused at a plain interrupt(), approved, booked: the replay opens no request and books nothing."""
    BOOKINGS.clear()
    original = executed_run("docs_hotel_reviewed", {"hotel": "Ritz"}, engineer)
    assert original.status == "waiting"
    # A plain interrupt() is free-form: the reviewer answers it.
    decide(ApprovalRequest.objects.get(run=original, status="pending").id, reviewer, "answer", value="yes")
    assert runtime.execute(original.id) == "succeeded"
    original.refresh_from_db()
    assert BOOKINGS == ["Ritz"]
    model_calls = MODEL_CALLS[0]
    copy = replay(original, engineer, mode="recorded")
    assert runtime.execute(copy.id) == "succeeded"
    copy.refresh_from_db()
    assert BOOKINGS == ["Ritz"] and MODEL_CALLS[0] == model_calls
    assert not ApprovalRequest.objects.filter(run=copy).exists()
    assert copy.output == original.output
    _assert_copied(original, copy)


def test_recorded_replay_copies_the_subgraph_checkpoints(engineer: Any) -> None:
    """The hotel agent as a subgraph: its checkpoints (checkpoint_ns != "") are copied too."""
    BOOKINGS.clear()
    original = executed_run("docs_hotel_trip", {"hotel": "Savoy"}, engineer)
    assert original.status == "succeeded" and BOOKINGS == ["Savoy"]
    assert any(ns for ns, _, _ in _chain(original.thread_id)), "the subgraph wrote checkpoints of its own"
    copy = replay(original, engineer, mode="recorded")
    assert runtime.execute(copy.id) == "succeeded"
    copy.refresh_from_db()
    assert BOOKINGS == ["Savoy"]
    _assert_copied(original, copy)


def test_recorded_replay_refuses_a_run_it_cannot_copy(engineer: Any, api: Any) -> None:
    """A waiting run has no final status to copy, and a run without checkpoints has nothing to copy:
    409 with a reason, and no new run."""
    BOOKINGS.clear()
    waiting = executed_run("docs_hotel_reviewed", {"hotel": "Plaza"}, engineer)
    assert waiting.status == "waiting"
    finished = executed_run("docs_hotel", {"hotel": "Hilton"}, engineer)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM checkpoints WHERE thread_id = %s", [finished.thread_id])
    runs_before = Run.objects.count()
    with pytest.raises(Conflict, match="waiting"):
        replay(waiting, engineer, mode="recorded")
    with pytest.raises(Conflict, match="checkpoints"):
        replay(finished, engineer, mode="recorded")
    refused = api(engineer).post(f"/api/runs/{finished.id}/replay", {"mode": "recorded"})
    assert refused.status_code == 409 and "checkpoints are gone" in refused.json()["detail"]
    assert Run.objects.count() == runs_before
    assert not _chain(str(finished.id)) and BOOKINGS == ["Hilton"]


def test_an_imported_copy_neither_copies_nor_blocks_its_source(engineer: Any) -> None:
    """An imported run keeps its source's thread id but has no checkpoints of its own: its recorded
    replay is refused; its source (here, in the same Steward) still replays as a copy."""
    from traces.inspection.export import export_run, import_run

    BOOKINGS.clear()
    original = executed_run("docs_hotel", {"hotel": "Adlon"}, engineer)
    imported = import_run(export_run(original), engineer)
    assert imported.thread_id == original.thread_id
    with pytest.raises(Conflict, match="imported"):
        replay(imported, engineer, mode="recorded")
    copy = replay(original, engineer, mode="recorded")
    assert runtime.execute(copy.id) == "succeeded"
    _assert_copied(original, copy)
    assert BOOKINGS == ["Adlon"]
