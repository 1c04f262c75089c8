"""The run page's waterfall and a span's details, against a real run of a known graph."""

from __future__ import annotations

from typing import Any

import pytest

from agents.engine import runtime
from agents.engine.services import start_run
from traces.inspection.waterfall import PAYLOAD_CAP, payload_view, state_diff, waterfall
from traces.recording.models import Span

pytestmark = pytest.mark.django_db(transaction=True)


def test_waterfall_nests_children_and_places_bars_on_the_run_axis(engineer: Any) -> None:
    """Node rows at depth 0, their model and tool calls at depth 1; bars within 0–100%."""
    run = start_run("known", {"topic": "tides"}, engineer)
    runtime.execute(run.id)
    rows = waterfall(run, list(Span.objects.filter(run=run).order_by("seq")))
    assert [(r.span.kind, r.depth) for r in rows] == [("node", 0), ("model", 1), ("node", 0), ("tool", 1), ("node", 0)]
    assert all(0 <= r.offset_pct <= 100 and 0 < r.width_pct <= 100 for r in rows)
    assert rows[0].offset_pct == 0 and rows[-1].offset_pct > rows[0].offset_pct


def test_state_diff_shows_what_each_step_saved(engineer: Any) -> None:
    """Each node's diff is against the checkpoint it ran from: `plan` sets the plan and appends
    to the log, `act` sets the result, `finish` appends to the log."""
    run = start_run("known", {"topic": "tides"}, engineer)
    runtime.execute(run.id)
    diffs = {}
    for span in Span.objects.filter(run=run, kind="node").order_by("seq"):
        diff = state_diff(run, span)
        assert diff is not None and diff["saved"]
        diffs[span.name] = {c["key"]: c for c in diff["changes"]}
    assert diffs["plan"]["log"]["kind"] == "added" and '"plan"' in diffs["plan"]["log"]["value"]["pretty"]
    assert "plan" in diffs["plan"] and "result" not in diffs["plan"]
    assert "tides" in diffs["act"]["result"]["value"]["pretty"]
    assert set(diffs["finish"]) == {"log"}
    assert state_diff(run, Span.objects.get(run=run, kind="model")) is None


def test_failed_step_saved_no_state(engineer: Any) -> None:
    """The failing node's diff says it saved nothing."""
    run = start_run("known", {"topic": "explode"}, engineer)
    runtime.execute(run.id)
    act = Span.objects.get(run=run, kind="node", name="act")
    assert state_diff(run, act) == {"checkpoint_id": act.checkpoint_id, "saved": False, "changes": []}


def test_payloads_are_capped_and_chats_recognised() -> None:
    """A huge payload is cut at PAYLOAD_CAP with its full size reported; a message list is a chat."""
    view = payload_view({"blob": "x" * (PAYLOAD_CAP * 2)})
    assert view["truncated"] and len(view["pretty"]) == PAYLOAD_CAP and view["size"] > PAYLOAD_CAP * 2
    chat = payload_view([{"type": "human", "content": "hi"}, {"type": "ai", "content": "", "tool_calls": [{"name": "t", "args": {"a": 1}}]}])
    assert chat["chat"][0] == {"role": "human", "name": "", "text": "hi", "calls": []}
    assert chat["chat"][1]["calls"] == ['t({"a": 1})']


def test_span_pages_and_download(engineer: Any, client: Any) -> None:
    """The detail is a fragment for htmx and a page without it; the full payload downloads; the
    next page of rows loads after a given step; unknown spans are 404."""
    run = start_run("known", {"topic": "tides"}, engineer)
    runtime.execute(run.id)
    client.force_login(engineer)
    fragment = client.get(f"/runs/{run.id}/spans/1/", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and b"<html" not in fragment.content and b"scripted-demo" in fragment.content
    assert b"<html" in client.get(f"/runs/{run.id}/spans/1/").content
    download = client.get(f"/runs/{run.id}/spans/1/input.json")
    assert download["Content-Disposition"].startswith("attachment") and b"tides" in download.content
    rows = client.get(f"/runs/{run.id}/spans", {"after": 2})
    assert rows.content.count(b'class="span-row') == 2
    assert client.get(f"/runs/{run.id}/spans/99/").status_code == 404
    assert client.get(f"/runs/{run.id}/spans/1/secret.json").status_code == 404


def test_a_steps_spans_name_the_checkpoint_they_ran_from_when_its_put_comes_first(
    engineer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LangGraph sends a step's checkpoint (put) without waiting for its task's writes
    (put_writes): on a busy machine the put commits first and carries the step's spans. They
    must still name the checkpoint their task ran from, or each node's state diff is against
    the wrong step (seen in CI under load)."""
    import time

    from agents.engine.checkpointer import StewardPostgresSaver

    put_writes = StewardPostgresSaver.put_writes

    def late_put_writes(self: Any, *args: Any, **kwargs: Any) -> None:
        time.sleep(0.05)
        put_writes(self, *args, **kwargs)

    monkeypatch.setattr(StewardPostgresSaver, "put_writes", late_put_writes)
    run = start_run("known", {"topic": "tides"}, engineer)
    runtime.execute(run.id)
    _assert_each_step_diffs_its_own_changes(run)


def test_a_late_transaction_of_an_earlier_step_leaves_later_steps_spans_alone(
    engineer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LangGraph starts the next step without waiting for a task's writes: on a loaded machine
    the writes of the graph's first task (`__start__`, never held for a checkpoint) committed
    once `act`, two steps later, had finished, took its span and named it with their own
    checkpoint (seen under load: act's state diff showed only the input). Forced here: the
    first task's writes wait for act's span, and act's checkpoint for those writes."""
    import threading
    import time

    from agents.engine.checkpointer import StewardPostgresSaver

    put_writes, put = StewardPostgresSaver.put_writes, StewardPostgresSaver.put
    start_writes_done = threading.Event()

    def late_start_writes(self: Any, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
        if "__start__" in str(task_path):
            deadline = time.monotonic() + 10
            while not any(span.name == "act" for span in self.hook.recorder._done) and time.monotonic() < deadline:
                time.sleep(0.002)
            put_writes(self, config, writes, task_id, task_path)
            start_writes_done.set()
            return
        put_writes(self, config, writes, task_id, task_path)

    def act_put_after_them(self: Any, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        if metadata.get("step") == 2:
            assert start_writes_done.wait(10)
        return put(self, config, checkpoint, metadata, new_versions)

    monkeypatch.setattr(StewardPostgresSaver, "put_writes", late_start_writes)
    monkeypatch.setattr(StewardPostgresSaver, "put", act_put_after_them)
    run = start_run("known", {"topic": "tides"}, engineer)
    runtime.execute(run.id)
    assert start_writes_done.is_set()
    _assert_each_step_diffs_its_own_changes(run)


def _assert_each_step_diffs_its_own_changes(run: Any) -> None:
    diffs = {}
    for span in Span.objects.filter(run=run, kind="node").order_by("seq"):
        diff = state_diff(run, span)
        assert diff is not None and diff["saved"], span.name
        diffs[span.name] = {c["key"] for c in diff["changes"]}
    assert diffs["plan"] == {"plan", "log"} and "result" in diffs["act"] and diffs["finish"] == {"log"}
