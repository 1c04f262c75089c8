"""The checkpoints page: the run's thread's checkpoints with their steps, spans and values."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest

from agents.engine import runtime
from agents.engine.checkpointer import checkpointer
from agents.engine.models import Run
from agents.engine.services import start_run
from console.kernel.serialize import to_jsonable
from tests.support.clients import ClientFor
from traces.inspection.inspect_views import JSON_CAP
from traces.recording.models import Span

pytestmark = pytest.mark.django_db(transaction=True)


def _saved(run: Run) -> list[Any]:
    with checkpointer() as saver:
        return list(saver.list({"configurable": {"thread_id": run.thread_id}}))


def _row(body: str, checkpoint_id: str) -> str:
    match = re.search(rf'<tr id="checkpoint-{checkpoint_id}".*?</tr>', body, re.S)
    assert match, f"no row for checkpoint {checkpoint_id}"
    return match.group(0)


def test_lists_checkpoints_newest_first_with_steps_and_span_links(engineer: Any, client_for: ClientFor) -> None:
    run = start_run("refund", {"order_id": "A-9", "amount": 30, "reason": "too small"}, engineer)
    assert runtime.execute(run.id) == "succeeded"
    saved = _saved(run)
    response = client_for(engineer).get(f"/runs/{run.id}/checkpoints")
    assert response.status_code == 200
    body = response.content.decode()

    ids = re.findall(r'<tr id="checkpoint-([^"]+)"', body)
    assert ids == [c.config["configurable"]["checkpoint_id"] for c in saved]
    steps = [int(s) for s in re.findall(r'<tr id="checkpoint-[^"]+" data-step="(-?\d+)"', body)]
    assert steps == [5, 4, 3, 2, 1, 0, -1]

    # Each loop step's row names the node that made it and links to that node's spans.
    spans = {(s.step, s.kind): s for s in Span.objects.filter(run=run)}
    by_step = {c.metadata["step"]: c.config["configurable"]["checkpoint_id"] for c in saved}
    layout = [
        (s.seq, s.kind, s.name, s.step, s.checkpoint_id) for s in Span.objects.filter(run=run).order_by("seq")
    ]
    parents = {c.config["configurable"]["checkpoint_id"]: (c.parent_config or {}).get("configurable", {}).get("checkpoint_id") for c in saved}
    for step, node in [(1, "agent"), (2, "lookup"), (3, "agent"), (4, "refund"), (5, "agent")]:
        row = _row(body, by_step[step])
        assert f"<strong>{node}</strong>" in row, (step, by_step, parents, layout, row)
        node_span = spans[(step, "node")]
        assert node_span.name == node
        assert f'href="/runs/{run.id}/#span-{node_span.seq}"' in row
        child = next(s for (st, kind), s in spans.items() if st == step and kind != "node")
        assert f'href="/runs/{run.id}/#span-{child.seq}"' in row
    assert "__start__" in _row(body, by_step[0])
    assert "the run's input" in _row(body, by_step[-1])
    # The channel values are there, as escaped JSON, with a download link.
    newest = _row(body, by_step[5])
    assert "has been refunded on order A-9." in html.unescape(newest)
    assert f'href="/runs/{run.id}/checkpoints/{by_step[5]}.json"' in newest
    assert "mermaid" not in body.lower()


def test_json_download_is_the_full_channel_values(engineer: Any, client_for: ClientFor) -> None:
    run = start_run("order_summary", {"customer_id": "C-7"}, engineer)
    assert runtime.execute(run.id) == "succeeded"
    newest = _saved(run)[0]
    checkpoint_id = newest.config["configurable"]["checkpoint_id"]
    response = client_for(engineer).get(f"/runs/{run.id}/checkpoints/{checkpoint_id}.json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"] == f'attachment; filename="checkpoint-{checkpoint_id}.json"'
    data = json.loads(response.content)
    assert data == to_jsonable(newest.checkpoint["channel_values"])
    assert [m["type"] for m in data["messages"]] == ["human", "ai", "tool", "ai", "tool", "ai"]
    assert data["messages"][-1]["content"].startswith("Customer C-7 has 3 recent orders")


def test_large_values_are_capped_inline_and_whole_in_the_download(engineer: Any, client_for: ClientFor) -> None:
    topic = "tide " * 6000  # 30,000 characters, in every checkpoint from the input on
    run = start_run("known", {"topic": topic}, engineer)
    assert runtime.execute(run.id) == "succeeded"
    newest = _saved(run)[0]
    checkpoint_id = newest.config["configurable"]["checkpoint_id"]
    client = client_for(engineer)
    body = client.get(f"/runs/{run.id}/checkpoints").content.decode()
    row = _row(body, checkpoint_id)
    shown = html.unescape(re.search(r'<pre class="channel-values">(.*?)</pre>', row, re.S).group(1))
    assert len(shown) == JSON_CAP
    full = client.get(f"/runs/{run.id}/checkpoints/{checkpoint_id}.json").content.decode()
    assert len(full) > 30_000 and full.startswith(shown)
    assert json.loads(full)["topic"] == topic
    assert f"first {JSON_CAP:,} of {len(full):,} characters" in row


def test_model_text_is_escaped(engineer: Any, client_for: ClientFor) -> None:
    run = start_run("refund", {"order_id": "<script>alert(1)</script>", "amount": 20, "reason": "<img src=x onerror=alert(2)>"}, engineer)
    assert runtime.execute(run.id) == "succeeded"
    body = client_for(engineer).get(f"/runs/{run.id}/checkpoints").content.decode()
    assert "<script>alert(1)" not in body and "<img src=x" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_paused_gate_spans_show_where_they_ran_from(engineer: Any, client_for: ClientFor) -> None:
    """A refund over 100 stops at its gate: the refund node made no checkpoint, and is listed
    under the checkpoint it ran from."""
    run = start_run("refund", {"order_id": "A-10", "amount": 500, "reason": "late"}, engineer)
    assert runtime.execute(run.id) == "waiting"
    newest = _saved(run)[0]
    body = client_for(engineer).get(f"/runs/{run.id}/checkpoints").content.decode()
    row = _row(body, newest.config["configurable"]["checkpoint_id"])
    assert "ran from it:" in row
    gate = Span.objects.get(run=run, kind="gate")
    assert gate.status == "paused" and f'href="/runs/{run.id}/#span-{gate.seq}"' in row


def test_access_and_unknown_ids(engineer: Any, outsider: Any, reviewer: Any, client_for: ClientFor) -> None:
    run = start_run("stock_check", {"sku": "SKU-1"}, engineer)
    assert runtime.execute(run.id) == "succeeded"
    checkpoint_id = _saved(run)[0].config["configurable"]["checkpoint_id"]
    assert client_for(outsider).get(f"/runs/{run.id}/checkpoints").status_code == 403
    assert client_for(outsider).get(f"/runs/{run.id}/checkpoints/{checkpoint_id}.json").status_code == 403
    assert client_for(reviewer).get(f"/runs/{run.id}/checkpoints").status_code == 200
    client = client_for(engineer)
    assert client.get("/runs/00000000-0000-0000-0000-000000000000/checkpoints").status_code == 404
    assert client.get(f"/runs/{run.id}/checkpoints/1f000000-0000-6000-8000-000000000000.json").status_code == 404
    # Another run's checkpoint is not served through this run.
    other = start_run("stock_check", {"sku": "SKU-2"}, engineer)
    assert runtime.execute(other.id) == "succeeded"
    other_id = _saved(other)[0].config["configurable"]["checkpoint_id"]
    assert client.get(f"/runs/{run.id}/checkpoints/{other_id}.json").status_code == 404


def test_a_run_without_checkpoints(engineer: Any, client_for: ClientFor) -> None:
    run = start_run("stock_check", {"sku": "SKU-3"}, engineer)  # queued, never executed
    body = client_for(engineer).get(f"/runs/{run.id}/checkpoints").content.decode()
    assert 'id="no-checkpoints"' in body


def test_pages_of_checkpoints(engineer: Any, monkeypatch: pytest.MonkeyPatch, client_for: ClientFor) -> None:
    monkeypatch.setattr("traces.inspection.inspect_views.CHECKPOINT_PAGE", 3)
    run = start_run("refund", {"order_id": "A-11", "amount": 10, "reason": "paging"}, engineer)
    assert runtime.execute(run.id) == "succeeded"
    client = client_for(engineer)
    seen: list[str] = []
    url = f"/runs/{run.id}/checkpoints"
    while url:
        body = client.get(url).content.decode()
        seen += re.findall(r'<tr id="checkpoint-([^"]+)"', body)
        more = re.search(r'href="\?before=([^"]+)"', body)
        url = f"/runs/{run.id}/checkpoints?before={more.group(1)}" if more else ""
    assert seen == [c.config["configurable"]["checkpoint_id"] for c in _saved(run)]
