"""The run page at volume, in Debian's chromium over daphne: a run of 10,000 spans (realistic 1–4 KB
payloads, nodes with subgraphs and calls) loads, scrolls, collapses, filters and deep-links a
span while drawing only the rows in view; its live updates keep coming in bounded frames while
the run records more spans; a failed run opens with its message first and its failing span open.
Desktop (1440×900) and phone (390×844).

The smoothness figures (frame times while scrolling and collapsing) are printed, not asserted.
Set STEWARD_SCREENSHOTS=<folder> to keep screenshots of the pages, light and dark.
"""

from __future__ import annotations

import os
import random
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from agents.engine import runtime
from agents.engine.models import Run
from console.kernel import live
from tests.support.browser import login
from tests.support.runs import executed_run, queued_refund
from traces.inspection.replay import replay
from traces.recording.models import Span

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
# What the consumer keeps each message under (console/web/consumers.py MESSAGE_BYTES).
FRAME_CAP = 256 * 1024
SHOTS = os.environ.get("STEWARD_SCREENSHOTS", "")


def _payload(rng: random.Random, label: str) -> dict[str, Any]:
    """A model call's messages of 1–4 KB, as agents record them."""
    # choices(k=...) rather than a choice per word: the same kind of text four times faster,
    # which counts for the 10 000-span runs.
    words = " ".join(rng.choices(("refund", "order", "customer", "policy", "amount", "late", "box"), k=rng.randint(150, 620)))
    return {"messages": [{"type": "human", "content": f"{label}: {words}"}, {"type": "ai", "content": words[:200]}]}


def add_spans(run: Run, count: int, first_seq: int, rng: random.Random, start: Any = None) -> list[Span]:
    """`count` spans after `first_seq`: nodes (every 20th is a subgraph whose nodes have their own
    calls), each with model and tool calls, a gate now and then; written with one bulk insert."""
    at = start or timezone.now()
    spans: list[Span] = []
    node: Span | None = None
    inner: Span | None = None
    for i in range(count):
        seq = first_seq + i
        position = i % 20
        if position == 0:
            kind, parent, name = Span.Kind.NODE, None, ("research" if (i // 20) % 20 == 0 else f"agent-{i // 20}")
        elif position == 1 and node is not None and node.name == "research":
            kind, parent, name = Span.Kind.NODE, node.id, "subgraph-search"
        elif inner is not None and position in (2, 3):
            kind, parent, name = Span.Kind.MODEL, inner.id, "scripted-demo"
        elif position == 19:
            kind, parent, name = Span.Kind.GATE, node.id if node else None, "issue_refund"
        else:
            kind, parent = (Span.Kind.MODEL, node.id if node else None) if position % 2 else (Span.Kind.TOOL, node.id if node else None)
            name = "scripted-demo" if kind == Span.Kind.MODEL else f"lookup-{seq}"
        span = Span(
            run=run, seq=seq, kind=kind, name=name, parent_id=parent, status=Span.Status.OK,
            started_at=at + timedelta(milliseconds=seq * 3), latency_ms=2.5 if kind != Span.Kind.NODE else 55.0,
            input=_payload(rng, name), output=_payload(rng, "out") if kind == Span.Kind.MODEL else {"result": name},
            tokens_in=120 if kind == Span.Kind.MODEL else 0, tokens_out=40 if kind == Span.Kind.MODEL else 0,
            model="scripted-demo" if kind == Span.Kind.MODEL else "", step=i // 20,
        )
        if kind == Span.Kind.NODE and parent is None:
            node, inner = span, None
        elif kind == Span.Kind.NODE:
            inner = span
        spans.append(span)
    Span.objects.bulk_create(spans, batch_size=1000)
    return spans


@pytest.fixture
def big_run(engineer: Any) -> tuple[Run, list[Span]]:
    run = queued_refund(engineer, 50)
    Run.objects.filter(id=run.id).update(status=Run.Status.RUNNING)
    spans = add_spans(run, 10_000, 0, random.Random(7))
    return Run.objects.get(id=run.id), spans


def _open(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_function("() => { const w = document.getElementById('waterfall'); return w && w.wf && !w.wf.loading(); }", timeout=60_000)


def _shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


def _in_view(page: Any, selector: str) -> bool:
    return bool(page.evaluate(
        """(selector) => { const row = document.querySelector(selector), box = document.getElementById('wf-viewport');
             if (!row || row.hidden) return false;
             const r = row.getBoundingClientRect(), b = box.getBoundingClientRect();
             return r.top >= b.top - 1 && r.bottom <= b.bottom + 1; }""",
        selector,
    ))


FRAMES = """async ({steps, action}) => {
  const box = document.getElementById('wf-viewport'), times = [];
  let last = performance.now();
  for (let i = 0; i < steps; i++) {
    if (action === 'scroll') box.scrollTop += 900;
    else document.querySelector(i % 2 ? '[data-wf=expand]' : '[data-wf=collapse]').click();
    await new Promise(r => requestAnimationFrame(r));
    const now = performance.now(); times.push(now - last); last = now;
  }
  times.sort((a, b) => a - b);
  return {p50: times[Math.floor(times.length / 2)], p95: times[Math.floor(times.length * 0.95)], max: times[times.length - 1]};
}"""


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_10000_span_run_loads_scrolls_collapses_filters_and_links_a_span(
    browser: Any, asgi_server: str, engineer: Any, big_run: tuple[Run, list[Span]], size: dict[str, int]
) -> None:
    run, spans = big_run
    context = browser.new_context(viewport=size)
    try:
        page = login(context, asgi_server, "engineer")
        _open(page, f"{asgi_server}/runs/{run.id}/")
        tree = page.locator("#waterfall")
        assert tree.evaluate("w => w.wf.rows()") == 10_000
        timing = page.evaluate("""() => { const n = performance.getEntriesByType('navigation')[0];
            return {response: n.responseEnd - n.requestStart, loaded: performance.now() - n.startTime}; }""")
        print(f"\n10k run page ({size['width']}): server response {timing['response']:.0f} ms; "
              f"all 10,000 rows loaded from the API {timing['loaded']:.0f} ms after navigation")
        drawn = page.locator("#wf-viewport a.wf-row:not([hidden])").count()
        assert 0 < drawn < 120, f"{drawn} rows in the DOM: only those in view are drawn"
        assert page.locator("#span-rows a.span-row").count() == 0, "the server's rows gave way to the drawn ones"

        # Scroll to the end: the last span is drawn, and still only a screenful of rows exists.
        page.evaluate("() => { const b = document.getElementById('wf-viewport'); b.scrollTop = b.scrollHeight; }")
        expect(page.locator(f'#wf-viewport a.wf-row[href$="?span={spans[-1].id}"]')).to_be_visible()
        assert page.locator("#wf-viewport a.wf-row:not([hidden])").count() < 120
        scroll = page.evaluate(FRAMES, {"steps": 120, "action": "scroll"})

        # Collapse everything: only the 500 top-level nodes remain; open one to see its calls.
        page.click("[data-wf=collapse]")
        page.wait_for_function("() => document.getElementById('waterfall').wf.shown() === 500")
        page.evaluate("() => { document.getElementById('wf-viewport').scrollTop = 0; }")
        first = page.locator(f'#wf-viewport a.wf-row[href$="?span={spans[0].id}"]')
        first.locator(".twisty").click()
        # "research": its 15 calls, its gate and its subgraph node (whose own calls stay collapsed).
        page.wait_for_function("() => document.getElementById('waterfall').wf.shown() === 500 + 17")
        collapse = page.evaluate(FRAMES, {"steps": 20, "action": "collapse"})
        print(f"\n10k run ({size['width']}×{size['height']}): scroll frames p50 {scroll['p50']:.1f} ms, "
              f"p95 {scroll['p95']:.1f} ms, max {scroll['max']:.1f} ms; collapse/expand all frames "
              f"p50 {collapse['p50']:.1f} ms, p95 {collapse['p95']:.1f} ms, max {collapse['max']:.1f} ms")

        # Filter by name: the match and the rows above it (node, subgraph node) only.
        needle = next(s for s in spans if s.kind == Span.Kind.TOOL and s.seq > 7000)
        page.keyboard.press("/")
        page.keyboard.type(needle.name)
        page.wait_for_function("() => document.getElementById('waterfall').wf.shown() === 2")
        expect(page.locator("#wf-count")).to_contain_text("1 of 10,000")
        page.keyboard.press("Escape")
        page.wait_for_function("() => document.getElementById('waterfall').wf.shown() === 10000")

        # Filter by a word only a payload holds (the page never loads payloads): the server finds it.
        hidden = next(s for s in spans if s.kind == Span.Kind.TOOL and 3000 < s.seq < 7000)
        Span.objects.filter(id=hidden.id).update(output={"result": "Zebra-Parcel-4417"})
        page.keyboard.press("/")
        page.keyboard.type("zebra-parcel-4417")
        page.wait_for_function("() => document.getElementById('waterfall').wf.shown() === 2")
        expect(page.locator("#wf-count")).to_contain_text("1 of 10,000")
        expect(page.locator(f'#wf-viewport a.wf-row[href$="?span={hidden.id}"]')).to_be_visible()
        page.keyboard.press("Escape")
        page.wait_for_function("() => document.getElementById('waterfall').wf.shown() === 10000")

        # A link to a span deep in the run: selected, scrolled into view, its panel open.
        deep = next(s for s in spans if s.kind == Span.Kind.MODEL and s.seq > 9000 and s.parent_id)
        _open(page, f"{asgi_server}/runs/{run.id}/?span={deep.id}")
        selected = f'#wf-viewport a.wf-row.selected[href$="?span={deep.id}"]'
        page.wait_for_selector(selected)
        assert _in_view(page, selected)
        expect(page.locator(f'#span-detail .span-detail[data-id="{deep.id}"]')).to_be_attached()
        _shot(page, f"run-10k-{size['width']}")
        # j selects the next step and puts it in the address.
        page.locator("#wf-viewport").focus()
        page.keyboard.press("j")
        following = spans[deep.seq + 1]
        page.wait_for_url(f"**/runs/{run.id}/?span={following.id}")
        expect(page.locator(f'#span-detail .span-detail[data-id="{following.id}"]')).to_be_attached()
    finally:
        context.close()


def test_live_updates_continue_on_the_10000_span_page_in_bounded_frames(
    browser: Any, asgi_server: str, engineer: Any, big_run: tuple[Run, list[Span]]
) -> None:
    """While the run records 600 more spans (in steps of 150, each announced as the runtime
    does), the open page gets every one of them; no frame it receives reaches the cap."""
    run, spans = big_run
    context = browser.new_context(viewport=DESKTOP)
    frames: list[int] = []
    try:
        page = login(context, asgi_server, "engineer")
        page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(len(payload if isinstance(payload, bytes) else payload.encode()))))
        _open(page, f"{asgi_server}/runs/{run.id}/")
        page.wait_for_function("() => !document.body.classList.contains('live-lost') && document.getElementById('run-header')")
        rng = random.Random(11)
        added: list[Span] = []
        for batch in range(4):
            added += add_spans(run, 150, 10_000 + batch * 150, rng, start=spans[-1].started_at)
            live.publish_now(live.run_group(run.id), {"kind": "spans", "run_id": str(run.id)})
            page.wait_for_function(f"() => document.getElementById('waterfall').wf.rows() === {10_000 + (batch + 1) * 150}", timeout=30_000)
        newest_tool = [s for s in added if s.kind == Span.Kind.TOOL][-1]
        page.keyboard.press("/")
        page.keyboard.type(newest_tool.name)
        page.wait_for_function("() => document.getElementById('waterfall').wf.shown() === 2")
        expect(page.locator(f'#wf-viewport a.wf-row[href$="?span={newest_tool.id}"]')).to_be_visible()
        assert frames, "the page received live frames"
        print(f"\nlive frames received: {len(frames)}, largest {max(frames)} bytes (cap {FRAME_CAP})")
        assert max(frames) < FRAME_CAP
    finally:
        context.close()


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_failed_run_opens_with_its_message_and_the_failing_span(
    browser: Any, asgi_server: str, engineer: Any, size: dict[str, int], scheme: str
) -> None:
    run = executed_run("known", {"topic": "explode"}, engineer)
    assert run.status == Run.Status.FAILED
    failing = Span.objects.get(run=run, kind=Span.Kind.TOOL)
    context = browser.new_context(viewport=size, color_scheme=scheme)
    try:
        page = login(context, asgi_server, "engineer")
        _open(page, f"{asgi_server}/runs/{run.id}/")
        message = page.locator("#run-error .run-error-message")
        expect(message).to_contain_text("cannot measure explode")
        # (The rectangle from the element itself: the live push may swap the header in again.)
        box = message.evaluate("e => e.getBoundingClientRect().toJSON()")
        assert 0 <= box["y"] and box["y"] + box["height"] < size["height"], "the message is on the first screen"
        assert page.evaluate("window.scrollY") == 0, "the page opens at its top"
        assert box["y"] < page.locator("#steps").evaluate("e => e.getBoundingClientRect().top"), "the message comes before the steps"
        expect(page.locator("#run-error details.run-error-trace")).not_to_have_attribute("open", "")
        expect(page.locator("#wf-viewport a.wf-row.selected .span-name")).to_have_text("measure")
        panel = page.locator(f'#span-detail .span-detail[data-id="{failing.id}"]')
        expect(panel.locator(".span-error-message")).to_contain_text("ValueError: cannot measure explode")
        assert panel.locator("pre.tb-text").evaluate("e => getComputedStyle(e).whiteSpace") == "pre-wrap"
        # The project's own frame (the tool) is listed; the library frames are folded.
        expect(panel.locator(".tb-frames")).to_contain_text("graphs.py")
        assert "site-packages" not in panel.locator(".tb-frames").inner_text()
        _shot(page, f"run-failed-{size['width']}-{scheme}")
    finally:
        context.close()


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screens_of_a_normal_run_and_the_diff_page(
    browser: Any, asgi_server: str, engineer: Any, size: dict[str, int], scheme: str
) -> None:
    """A normal run's page draws its tree and its help opens on ?; the diff page of a run and
    its replay from step 2 (the same steps, fewer of its own) says the totals differ."""
    a = executed_run("known", {"topic": "tides"}, engineer)
    b = replay(a, engineer, from_step=2, mode="recorded")
    runtime.execute(b.id)
    context = browser.new_context(viewport=size, color_scheme=scheme)
    try:
        page = login(context, asgi_server, "engineer")
        _open(page, f"{asgi_server}/runs/{a.id}/")
        expect(page.locator("#wf-viewport a.wf-row")).to_have_count(5)
        # Zoom: + narrows the timeline (the bars grow), 0 shows the whole run again.
        bar = page.locator("#wf-viewport a.wf-row.tool .bar")
        before = bar.evaluate("b => b.getBoundingClientRect().width")
        page.locator("#wf-viewport a.wf-row.tool").click()
        page.keyboard.press("z")
        expect(page.locator("#wf-ruler")).to_have_class(re.compile("zoomed"))
        assert bar.evaluate("b => b.getBoundingClientRect().width") > before
        page.keyboard.press("0")
        expect(page.locator("#wf-ruler")).not_to_have_class(re.compile("zoomed"))
        _shot(page, f"run-normal-{size['width']}-{scheme}")
        page.keyboard.press("?")
        expect(page.locator("#wf-help")).to_be_visible()
        page.keyboard.press("Escape")
        page.goto(f"{asgi_server}/runs/{a.id}/diff/{b.id}/")
        # A replay from step 2 counts the step it inherited: the totals agree, the row is marked.
        expect(page.locator("#no-divergence")).to_contain_text("inherited")
        _shot(page, f"diff-{size['width']}-{scheme}")
    finally:
        context.close()


def test_a_closed_socket_is_shown_and_the_page_reconnects_and_catches_up(
    browser: Any, asgi_server: str, engineer: Any
) -> None:
    """The server side of the page's socket goes away (as when a message was refused): the page
    says live updates are paused, opens a new socket, and shows the spans recorded meanwhile."""
    run = queued_refund(engineer, 50)
    Run.objects.filter(id=run.id).update(status=Run.Status.RUNNING)
    rng = random.Random(5)
    add_spans(run, 40, 0, rng)
    context = browser.new_context(viewport=DESKTOP)
    sockets: list[Any] = []

    def relay(ws: Any) -> None:
        ws.connect_to_server()  # messages pass both ways untouched
        sockets.append(ws)

    try:
        page = login(context, asgi_server, "engineer")
        page.route_web_socket("**/ws/live/**", relay)
        _open(page, f"{asgi_server}/runs/{run.id}/")
        page.wait_for_function("() => document.getElementById('run-header')")
        expect(page.locator("#wf-live")).to_be_hidden()
        opened = len(sockets)
        assert opened >= 1
        sockets[-1].close(code=1000, reason="gone")
        expect(page.locator("#wf-live")).to_contain_text("Live updates paused")
        add_spans(run, 40, 40, rng)  # recorded while the page had no socket: no event reaches it
        page.wait_for_function("() => document.getElementById('waterfall').wf.rows() === 80", timeout=30_000)
        assert len(sockets) > opened, "a new socket was opened"
        expect(page.locator("body")).not_to_have_class(re.compile("live-lost"))
    finally:
        context.close()
