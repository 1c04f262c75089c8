"""The waterfall as a tree: subgraphs nest, pages of rows follow tree order, the steps API pages by
seq with each span's depth, a failed run's failing span, and tracebacks folded for reading."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from agents.engine.models import Run
from tests.support.runs import executed_run, queued_refund
from traces.inspection.tracebacks import fold_traceback
from traces.inspection.waterfall import failing_span, span_tree, waterfall_page
from traces.recording.models import Span

pytestmark = pytest.mark.django_db(transaction=True)


def _nested_run(user: Any) -> tuple[Run, dict[str, Span]]:
    """node `outer` → subgraph node `inner` → model call; then node `after` (started before the
    subgraph's call: seq order is not tree order)."""
    run = queued_refund(user, 50)
    at = timezone.now()
    made: dict[str, Span] = {}

    def span(name: str, kind: str, seq: int, parent: str | None = None) -> None:
        made[name] = Span.objects.create(
            run=run, seq=seq, kind=kind, name=name, status=Span.Status.OK, started_at=at + timedelta(milliseconds=seq),
            latency_ms=1.0, parent_id=made[parent].id if parent else None, input={"blob": "x" * 2000},
        )

    span("outer", Span.Kind.NODE, 0)
    span("inner", Span.Kind.NODE, 1, "outer")
    span("after", Span.Kind.NODE, 2)
    span("call", Span.Kind.MODEL, 3, "inner")
    span("orphan", Span.Kind.TOOL, 4)
    Span.objects.filter(id=made["orphan"].id).update(parent_id=uuid.uuid4())  # its parent was never written
    return run, made


def test_subgraphs_nest_and_pages_follow_tree_order(engineer: Any) -> None:
    run, made = _nested_run(engineer)
    tree = span_tree(run)
    assert [tree.depth[made[n].id] for n in ("outer", "inner", "call", "after", "orphan")] == [0, 1, 2, 0, 0]
    assert tree.order == [made[n].id for n in ("outer", "inner", "call", "after", "orphan")]
    rows, next_after = waterfall_page(run, None, 3)
    assert [r.span.name for r in rows] == ["outer", "inner", "call"] and next_after == made["call"].seq
    assert rows[0].children == 1 and rows[2].step == 2, "the call is under node 2, the subgraph's"
    rows, next_after = waterfall_page(run, next_after, 3)
    assert [r.span.name for r in rows] == ["after", "orphan"] and next_after is None


def test_steps_api_pages_by_seq_with_depth_and_without_payloads(engineer: Any, api: Any) -> None:
    run, made = _nested_run(engineer)
    client = api(engineer)
    first = client.get(f"/api/runs/{run.id}/steps", limit=2, payloads="false").json()
    assert [(s["name"], s["seq"], s["depth"]) for s in first] == [("outer", 0, 0), ("inner", 1, 1)]
    assert first[0]["input"] is None
    rest = client.get(f"/api/runs/{run.id}/steps", after=first[-1]["seq"], limit=10).json()
    assert [(s["name"], s["depth"]) for s in rest] == [("after", 0), ("call", 2), ("orphan", 0)]
    assert rest[0]["input"] == {"blob": "x" * 2000}
    assert len(client.get(f"/api/runs/{run.id}/steps").json()) == 5, "no limit: every span, as before"
    assert client.get(f"/api/runs/{run.id}/steps", limit=0).status_code == 422


def test_steps_api_searches_names_and_the_stored_payloads(engineer: Any, api: Any) -> None:
    run, made = _nested_run(engineer)
    Span.objects.filter(id=made["call"].id).update(output={"answer": "Refund 50% to ACME_Corp"})
    Span.objects.filter(id=made["after"].id).update(input={"note": "[redacted:card] on file"})
    client = api(engineer)

    def names(q: str) -> list[str]:
        response = client.get(f"/api/runs/{run.id}/steps", q=q, payloads="false")
        assert response.status_code == 200, response.content
        return [s["name"] for s in response.json()]

    assert names("acme_corp") == ["call"], "output text, any case; _ is a letter, not a wildcard"
    assert names("50%") == ["call"] and names("%") == ["call"], "% is a character, not a wildcard"
    assert names("INNER") == ["inner"], "the name"
    assert names("xxxx") == ["outer", "inner", "call", "orphan"], "input text ('after' has its own now)"
    assert names("4111") == [] and names("redacted:card") == ["after"], "the stored, redacted payloads only"
    assert len(names("  ")) == 5, "a blank search is no search"
    assert client.get(f"/api/runs/{run.id}/steps", q="x" * 201).status_code == 422


def test_a_failed_run_opens_with_its_message_and_failing_span(engineer: Any, client_for: Any) -> None:
    run = executed_run("known", {"topic": "explode"}, engineer)
    tool = Span.objects.get(run=run, kind=Span.Kind.TOOL)
    assert failing_span(run) == tool, "the tool call, not the node around it"
    html = client_for(engineer).get(f"/runs/{run.id}/").content.decode()
    assert html.index('class="run-error-message"') < html.index('id="steps"')
    assert "ValueError: cannot measure explode" in html.split('class="run-error-message"', 1)[1][:200]
    assert f'data-selected="{tool.id}"' in html
    assert f'<div class="span-detail" id="span-detail-{tool.seq}"' in html, "its panel is open without a click"


def test_a_span_named_in_the_address_is_open(engineer: Any, client_for: Any) -> None:
    run = executed_run("known", {"topic": "tides"}, engineer)
    model = Span.objects.get(run=run, kind=Span.Kind.MODEL)
    client = client_for(engineer)
    html = client.get(f"/runs/{run.id}/", {"span": str(model.id)}).content.decode()
    assert f'data-selected="{model.id}"' in html and f'id="span-detail-{model.seq}"' in html
    assert 'data-selected' not in client.get(f"/runs/{run.id}/", {"span": "nonsense"}).content.decode()


TRACEBACK = '''Traceback (most recent call last):
  File "/srv/app/.venv/lib/python3.11/site-packages/langgraph/pregel/main.py", line 10, in invoke
    for chunk in self.stream(
  File "/srv/app/agents/refund.py", line 42, in lookup
    return orders[order_id]
           ~~~~~~^^^^^^^^^^
KeyError: 'A-1'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/usr/lib/python3.11/json/decoder.py", line 337, in decode
    obj, end = self.raw_decode(s, idx=_w(s, 0).end())
  File "/srv/app/agents/refund.py", line 50, in parse
    data = json.loads(text)
ValueError: no order
  with two lines
'''


def test_tracebacks_fold_to_the_message_and_the_projects_frames() -> None:
    folded = fold_traceback(TRACEBACK)
    assert folded.message == "ValueError: no order\n  with two lines"
    assert [(f.file, f.line, f.function, f.code) for f in folded.project_frames] == [
        ("/srv/app/agents/refund.py", 50, "parse", "data = json.loads(text)")
    ]
    assert folded.library_count == 1
    assert fold_traceback("plain words").message == "plain words"
    assert fold_traceback(TRACEBACK, message="ValueError: no order").message == "ValueError: no order"


def test_without_javascript_more_steps_pages_through_the_tree(engineer: Any, client_for: Any) -> None:
    """The page draws the first SPAN_PAGE rows; "More steps…" (a plain link) shows the next ones."""
    from agents.web.run_page import SPAN_PAGE

    run = queued_refund(engineer, 50)
    at = timezone.now()
    Span.objects.bulk_create(
        Span(run=run, seq=seq, kind=Span.Kind.NODE, name=f"n{seq}", status=Span.Status.OK, started_at=at)
        for seq in range(SPAN_PAGE + 30)
    )
    client = client_for(engineer)
    html = client.get(f"/runs/{run.id}/").content.decode()
    assert html.count('class="span-row') == SPAN_PAGE
    assert f'href="/runs/{run.id}/?after={SPAN_PAGE - 1}#steps"' in html
    rest = client.get(f"/runs/{run.id}/", {"after": SPAN_PAGE - 1}).content.decode()
    assert rest.count('class="span-row') == 30 and 'id="more-spans"' not in rest
    assert f'id="span-{SPAN_PAGE}"' in rest
