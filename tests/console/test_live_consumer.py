"""The live websocket consumer: who may subscribe to what, and which fragments it sends when.

The consumer runs for real on the configured channel layer (Redis when the tests have it, the
in-memory layer otherwise) and renders from the real database. Events come from the real
publisher (`runtime.execute` in a thread) or, to force a gap in numbering, straight from the
channel layer. pytest-asyncio is not installed: each test is sync and runs one coroutine with
`async_to_sync`, so every await shares one event loop with the consumer.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser, Group, User
from django.core.management import call_command
from django.db import connections
from django.test import Client
from django.utils import timezone

from agents.engine import runtime
from agents.engine.models import Run
from agents.engine.services import start_run
from approvals.inbox import PAGE_SIZE, InboxFilters, filtered_inbox
from approvals.models import ApprovalRequest, Queue
from approvals.services import claim, decide, enforce_sla
from console.kernel import live
from console.web.consumers import LiveConsumer
from tests.support.live import run_async, settle
from tests.support.runs import queued_refund, waiting_question, waiting_refund
from tests.support.users import make_user
from traces.recording.models import Span

pytestmark = pytest.mark.django_db(transaction=True)

FULL_SPANS = 'id="span-rows" hx-swap-oob="true"'
NEW_SPANS = 'hx-swap-oob="beforeend:#span-rows"'


def execute_and_close(run_id: uuid.UUID) -> str | None:
    """What a worker does with a run, on this thread's own connection, closed afterwards."""
    try:
        return runtime.execute(run_id)
    finally:
        connections.close_all()


def decide_and_close(approval_id: uuid.UUID, user: User) -> None:
    """A reviewer's approval from another thread, as a request handler would make it."""
    try:
        decide(approval_id, user, "approve")
    finally:
        connections.close_all()


async def connect(user: Any, query: str) -> tuple[WebsocketCommunicator, bool, Any]:
    """Open the consumer for `user` at /ws/live/?<query>; (communicator, accepted, subprotocol or code)."""
    communicator = WebsocketCommunicator(LiveConsumer.as_asgi(), f"/ws/live/?{query}")
    communicator.scope["user"] = user
    communicator.scope["cookies"] = {}
    accepted, detail = await communicator.connect(timeout=5)
    return communicator, accepted, detail


async def drain(communicator: WebsocketCommunicator, quiet: float = 0.5) -> list[str]:
    """Every message that arrives until none has for `quiet` seconds."""
    received = []
    while not await communicator.receive_nothing(timeout=quiet):
        received.append(await communicator.receive_from(timeout=5))
    return received


def span_seqs(html: str) -> list[int]:
    """The span numbers of the span rows in a fragment, in order."""
    return [int(seq) for seq in re.findall(r'<a id="span-(\d+)"', html)]


def run_span_seqs(run: Run) -> list[int]:
    """The span numbers the database holds for `run`, in order."""
    return list(Span.objects.filter(run=run).order_by("seq").values_list("seq", flat=True))


# --- Who may connect and subscribe -------------------------------------------------------------


def test_anonymous_connection_is_closed(db: Any) -> None:
    """An anonymous user's connection is refused with close code 4401."""

    async def scenario() -> None:
        communicator, accepted, code = await connect(AnonymousUser(), f"subscribe=run-{uuid.uuid4()}")
        assert accepted is False
        assert code == 4401
        await communicator.wait()

    run_async(scenario)


def test_anonymous_connection_through_the_asgi_application_is_closed(db: Any) -> None:
    """Through the full ASGI stack (origin check, session auth), no session means no socket."""
    from console.asgi import application

    async def scenario() -> None:
        communicator = WebsocketCommunicator(
            application, "/ws/live/?subscribe=approvals", headers=[(b"origin", b"http://testserver")]
        )
        accepted, code = await communicator.connect(timeout=5)
        assert accepted is False
        assert code == 4401
        await communicator.wait()

    run_async(scenario)


def test_session_cookie_through_the_asgi_application_authenticates(engineer: User) -> None:
    """With a logged-in session cookie the full stack accepts and renders the run for that user."""
    from console.asgi import application

    run = queued_refund(engineer, 50)
    settle(live.run_group(run.id))
    browser = Client()
    browser.force_login(engineer)
    cookie = f"sessionid={browser.cookies['sessionid'].value}; csrftoken=tok3n"

    async def scenario() -> None:
        communicator = WebsocketCommunicator(
            application,
            f"/ws/live/?subscribe=run-{run.id}",
            headers=[(b"origin", b"http://testserver"), (b"cookie", cookie.encode())],
        )
        accepted, _ = await communicator.connect(timeout=5)
        assert accepted is True
        html = await communicator.receive_from(timeout=5)
        assert 'id="run-header"' in html
        # The engineer may cancel: the form carries the page's CSRF token from the cookie.
        assert f'action="/runs/{run.id}/cancel"' in html
        assert 'name="csrfmiddlewaretoken" value="tok3n"' in html
        await communicator.disconnect()

    run_async(scenario)


def test_outsider_gets_no_run_fragments(engineer: User, outsider: User) -> None:
    """A user with no role may connect, but a run subscription is not joined: nothing is sent."""
    run = queued_refund(engineer, 50)
    group = live.run_group(run.id)
    settle(group)

    async def scenario() -> None:
        communicator, accepted, _ = await connect(outsider, f"subscribe={group}&subscribe=approvals")
        assert accepted is True
        assert await communicator.receive_nothing(timeout=1)
        layer = get_channel_layer()
        await layer.group_send(
            group, {"type": "steward.event", "group": group, "seq": live.current_seq(group) + 1}
        )
        assert await communicator.receive_nothing(timeout=1)
        await communicator.disconnect()

    run_async(scenario)


def test_engineer_is_not_subscribed_to_approvals(engineer: User) -> None:
    """Approvals are for reviewers: an engineer asking for them gets nothing."""

    async def scenario() -> None:
        communicator, accepted, _ = await connect(engineer, "subscribe=approvals&view=approvals")
        assert accepted is True
        assert await communicator.receive_nothing(timeout=1)
        await communicator.disconnect()

    run_async(scenario)


# --- Run fragments -----------------------------------------------------------------------------


def test_run_subscription_sends_header_and_all_spans_at_once(engineer: User) -> None:
    """On connect an engineer gets the run header, its output and the full span list, out of band."""
    run = queued_refund(engineer, 250)
    assert runtime.execute(run.id) == Run.Status.WAITING
    seqs = run_span_seqs(run)
    assert seqs
    group = live.run_group(run.id)
    settle(group)

    async def scenario() -> None:
        communicator, accepted, _ = await connect(engineer, f"subscribe={group}")
        assert accepted is True
        html = await communicator.receive_from(timeout=5)
        assert re.search(r'<section id="run-header"[^>]* data-status="waiting" hx-swap-oob="true">', html), (
            html
        )
        assert 'id="run-output" hx-disable hx-swap-oob="true"' in html
        assert FULL_SPANS in html
        assert NEW_SPANS not in html
        assert span_seqs(html) == seqs
        assert "Waiting for approval:" in html
        assert f'action="/runs/{run.id}/cancel"' in html
        assert await communicator.receive_nothing(timeout=0.5)
        await communicator.disconnect()

    run_async(scenario)


def test_reviewer_run_fragments_have_no_cancel_form(engineer: User, reviewer: User) -> None:
    """A reviewer reads the run live but is not offered the cancel button."""
    run = queued_refund(engineer, 50)
    group = live.run_group(run.id)
    settle(group)

    async def scenario() -> None:
        communicator, accepted, _ = await connect(reviewer, f"subscribe={group}")
        assert accepted is True
        html = await communicator.receive_from(timeout=5)
        assert 'id="run-header"' in html
        assert FULL_SPANS in html
        assert "/cancel" not in html
        await communicator.disconnect()

    run_async(scenario)


def test_executing_the_run_sends_new_status_and_only_new_spans(engineer: User) -> None:
    """While the run executes, the consumer sends the new status and each span exactly once."""
    run = queued_refund(engineer, 50)
    group = live.run_group(run.id)
    settle(group)

    async def scenario() -> None:
        communicator, accepted, _ = await connect(engineer, f"subscribe={group}")
        assert accepted is True
        first = await communicator.receive_from(timeout=5)
        assert 'data-status="queued"' in first
        assert FULL_SPANS in first
        assert span_seqs(first) == []

        outcome = await sync_to_async(execute_and_close, thread_sensitive=False)(run.id)
        assert outcome == Run.Status.SUCCEEDED

        received: list[str] = []
        deadline = time.monotonic() + 15
        while not any('data-status="succeeded"' in html for html in received):
            assert time.monotonic() < deadline, received
            received.append(await communicator.receive_from(timeout=15))
        received += await drain(communicator)

        # Each event's first message has the header; the spans it brings may follow in pages.
        assert all(('id="run-header"' in html and 'hx-swap-oob="true"' in html) or html.lstrip().startswith(f"<div {NEW_SPANS}") for html in received)
        assert 'id="run-header"' in received[0]
        expected = await database_sync_to_async(run_span_seqs)(run)
        assert expected
        # Events append only what is new, each span once, in order, until the page has them
        # all; nothing redraws the whole waterfall (the page places bars on its own axis).
        appended = [seq for html in received if NEW_SPANS in html for seq in span_seqs(html)]
        assert appended == expected
        assert not any(FULL_SPANS in html for html in received)
        last = [html for html in received if 'id="run-header"' in html][-1]
        assert "Done: 50.0 has been refunded" in last
        assert "/cancel" not in last, "a finished run has no cancel button"
        await communicator.disconnect()

    run_async(scenario)


def test_gap_in_numbering_sends_everything_then_only_what_is_new(engineer: User) -> None:
    """A skipped event number gives a full render; the next number gives only the new spans."""
    run = queued_refund(engineer, 250)
    assert runtime.execute(run.id) == Run.Status.WAITING
    old = run_span_seqs(run)
    group = live.run_group(run.id)
    settle(group)

    def add_span() -> int:
        seq = old[-1] + 1
        Span.objects.create(
            run=run,
            seq=seq,
            kind=Span.Kind.NODE,
            name="late-step",
            status=Span.Status.OK,
            started_at=timezone.now(),
        )
        return seq

    async def scenario() -> None:
        layer = get_channel_layer()
        communicator, accepted, _ = await connect(engineer, f"subscribe={group}")
        assert accepted is True
        assert span_seqs(await communicator.receive_from(timeout=5)) == old
        assert await communicator.receive_nothing(timeout=0.5)
        current = live.current_seq(group)

        await layer.group_send(group, {"type": "steward.event", "group": group, "seq": current + 2})
        gap = await communicator.receive_from(timeout=5)
        assert FULL_SPANS in gap
        assert NEW_SPANS not in gap
        assert span_seqs(gap) == old

        new_seq = await database_sync_to_async(add_span)()
        await layer.group_send(group, {"type": "steward.event", "group": group, "seq": current + 3})
        step = await communicator.receive_from(timeout=5)
        assert 'id="run-header"' in step
        assert NEW_SPANS in step
        assert FULL_SPANS not in step
        assert span_seqs(step) == [new_seq]
        assert "late-step" in step

        # An event already covered (same or older number) sends nothing.
        await layer.group_send(group, {"type": "steward.event", "group": group, "seq": current + 3})
        await layer.group_send(group, {"type": "steward.event", "group": group, "seq": current + 1})
        assert await communicator.receive_nothing(timeout=1)
        await communicator.disconnect()

    run_async(scenario)


def test_a_span_committed_after_later_ones_gets_the_list_sent_anew(engineer: User) -> None:
    """The tasks of a fan-out step each commit their spans as they finish, so a span can reach
    the database after spans numbered after it: appending after the last row sent would leave it
    out of the page for good (seen in `manage.py chaos --scenario channels`). The consumer sees
    that the page lacks a span before its last row and sends the list anew."""
    run = queued_refund(engineer, 250)
    assert runtime.execute(run.id) == Run.Status.WAITING
    old = run_span_seqs(run)
    group = live.run_group(run.id)
    settle(group)

    def add_span(seq: int) -> None:
        Span.objects.create(
            run=run, seq=seq, kind=Span.Kind.NODE, name=f"branch-{seq}", status=Span.Status.OK, started_at=timezone.now()
        )

    async def scenario() -> None:
        layer = get_channel_layer()
        communicator, accepted, _ = await connect(engineer, f"subscribe={group}")
        assert accepted is True
        assert span_seqs(await communicator.receive_from(timeout=5)) == old
        current = live.current_seq(group)
        late, early = old[-1] + 2, old[-1] + 1
        await database_sync_to_async(add_span)(late)
        await layer.group_send(group, {"type": "steward.event", "group": group, "seq": current + 1})
        step = await communicator.receive_from(timeout=5)
        assert NEW_SPANS in step and span_seqs(step) == [late]

        await database_sync_to_async(add_span)(early)
        await layer.group_send(group, {"type": "steward.event", "group": group, "seq": current + 2})
        again = await communicator.receive_from(timeout=5)
        assert FULL_SPANS in again and span_seqs(again) == [*old, early, late]
        await communicator.disconnect()

    run_async(scenario)


def test_consecutive_event_without_new_spans_sends_only_header_and_output(engineer: User) -> None:
    """With no new spans, the next event re-sends the header and output but no span rows."""
    run = queued_refund(engineer, 250)
    assert runtime.execute(run.id) == Run.Status.WAITING
    group = live.run_group(run.id)
    settle(group)

    async def scenario() -> None:
        layer = get_channel_layer()
        communicator, accepted, _ = await connect(engineer, f"subscribe={group}")
        assert accepted is True
        await communicator.receive_from(timeout=5)
        current = live.current_seq(group)
        await layer.group_send(group, {"type": "steward.event", "group": group, "seq": current + 1})
        html = await communicator.receive_from(timeout=5)
        assert 'id="run-header"' in html and 'id="run-output"' in html
        assert FULL_SPANS not in html and NEW_SPANS not in html
        assert span_seqs(html) == []
        await communicator.disconnect()

    run_async(scenario)


# --- Approval fragments ------------------------------------------------------------------------


def test_the_requester_of_a_question_gets_its_outcome_live(roles: None) -> None:
    """A run's requester on the page of a question put to them (its queue lets them answer) gets
    the request's status, then its outcome once answered; on a gated refund's page they get the
    run's header instead (the request is not theirs to see)."""
    asker = make_user("asker", "engineers")
    run = start_run("question", {"topic": "order"}, asker)
    assert runtime.execute(run.id) == Run.Status.WAITING
    question = ApprovalRequest.objects.get(run=run)
    refund = queued_refund(asker, 250)
    assert runtime.execute(refund.id) == Run.Status.WAITING
    gate = ApprovalRequest.objects.get(run=refund)
    group, refund_group = live.run_group(run.id), live.run_group(refund.id)
    settle(group)
    settle(refund_group)

    async def scenario() -> None:
        communicator, accepted, _ = await connect(asker, f"subscribe={group}&view=approval:{question.id}")
        assert accepted is True
        html = await communicator.receive_from(timeout=5)
        assert '<span class="status pending" id="approval-status" hx-swap-oob="true">pending</span>' in html, html
        await sync_to_async(answer_and_close, thread_sensitive=False)(question.id, asker)
        received = [await communicator.receive_from(timeout=15)]
        received += await drain(communicator)
        assert any('id="approval-status" hx-swap-oob="true">responded</span>' in h for h in received), received
        await communicator.disconnect()

        communicator, accepted, _ = await connect(asker, f"subscribe={refund_group}&view=approval:{gate.id}")
        assert accepted is True
        html = await communicator.receive_from(timeout=5)
        assert 'id="approval-status"' not in html and 'id="run-header"' in html
        await communicator.disconnect()

    run_async(scenario)


def answer_and_close(approval_id: uuid.UUID, user: User) -> None:
    """The requester's answer from another thread, as a request handler would make it."""
    try:
        decide(approval_id, user, "answer", value="A-5")
    finally:
        connections.close_all()


def test_reviewer_gets_nav_count_and_approval_rows(engineer: User, reviewer: User) -> None:
    """subscribe=approvals&view=approvals: the nav count and the pending rows, then updates on a decision."""
    run = queued_refund(engineer, 250)
    assert runtime.execute(run.id) == Run.Status.WAITING
    approval = ApprovalRequest.objects.get(run=run)
    decider = make_user("decider", "reviewers")
    settle(live.APPROVALS_GROUP)

    async def scenario() -> None:
        communicator, accepted, _ = await connect(reviewer, "subscribe=approvals&view=approvals")
        assert accepted is True
        html = await communicator.receive_from(timeout=5)
        assert re.search(
            r'<span id="nav-pending" hx-swap-oob="true" class="badge" data-count="1">1</span>', html
        ), html
        assert '<div id="approval-rows" hx-swap-oob="true" ' in html
        assert f'<a class="row-link" href="/approvals/{approval.id}/">' in html

        await sync_to_async(decide_and_close, thread_sensitive=False)(approval.id, decider)
        received: list[str] = []
        deadline = time.monotonic() + 15
        while not any('data-count="0"' in h for h in received):
            assert time.monotonic() < deadline, received
            received.append(await communicator.receive_from(timeout=15))
        received += await drain(communicator)
        last = received[-1]
        assert 'class="badge zero" data-count="0"' in last
        assert "Nothing waiting for you." in last
        assert str(approval.id) not in last
        await communicator.disconnect()

    run_async(scenario)


async def asked_once(user: User, query: str) -> tuple[WebsocketCommunicator, str]:
    """The socket of a user asked one question, and its first message (its nav count is 1)."""
    communicator, accepted, _ = await connect(user, query)
    assert accepted is True
    html = await communicator.receive_from(timeout=5)
    assert 'id="nav-pending" hx-swap-oob="true" class="badge" data-count="1"' in html, html
    return communicator, html


def test_a_requester_in_no_queue_gets_their_questions_rows_live(roles: None) -> None:
    """The inbox of a requester who reviews no queue ("Asked of you"): their question's row and
    the nav count, and the update when a reviewer answers it; another run's request is not shown."""
    asker = make_user("asker", "engineers")
    question, (_, gate) = waiting_question(asker), waiting_refund(asker)
    reviewer = make_user("rev", "reviewers")
    settle(live.APPROVALS_GROUP)

    async def scenario() -> None:
        communicator, html = await asked_once(asker, "subscribe=approvals&view=approvals&asked=1")
        assert f'<a class="row-link" href="/approvals/{question.id}/">' in html and str(gate.id) not in html

        await sync_to_async(_closing(decide), thread_sensitive=False)(question.id, reviewer, "answer", None, "", "", "A-3")
        last = await receive_until(communicator, 'data-count="0"')
        assert "Nothing waiting for you." in last and str(question.id) not in last
        await communicator.disconnect()

    run_async(scenario)


def test_someone_in_a_reviewer_group_without_the_role_gets_only_their_questions_live(roles: None) -> None:
    """A queue's reviewer group may be any group: a member without the reviewers role who is
    asked something gets, over the socket as on the page, only the questions put to them, their
    count, and no pane of the queue's requests, whatever query the socket is given."""
    asker = make_user("asker", "engineers", "finance")
    Queue.objects.get(name="payments").reviewer_groups.add(Group.objects.get(name="finance"))
    question, (_, gate) = waiting_question(asker), waiting_refund(make_user("other", "engineers"))
    settle(live.APPROVALS_GROUP)

    async def scenario() -> None:
        communicator, html = await asked_once(asker, "subscribe=approvals&view=approvals")
        assert re.findall(r'<li id="approval-([0-9a-f-]{36})"', html) == [str(question.id)]

        await communicator.send_to(text_data=json.dumps({"pane": str(gate.id), "inbox": "queue=payments"}))
        received = await drain(communicator)
        assert received and all(str(gate.id) not in h for h in received), received
        assert all(re.findall(r'<li id="approval-([0-9a-f-]{36})"', h) == [] for h in received), received
        await communicator.disconnect()

    run_async(scenario)


def _closing(call: Any) -> Any:
    """`call` run on a thread's own connection, closed afterwards (as a request handler's)."""

    def run(*args: Any) -> Any:
        try:
            return call(*args)
        finally:
            connections.close_all()

    return run


async def receive_until(communicator: WebsocketCommunicator, needle: str) -> str:
    """The first message that contains `needle` (earlier ones are skipped)."""
    deadline = time.monotonic() + 15
    while True:
        assert time.monotonic() < deadline, needle
        html = await communicator.receive_from(timeout=15)
        if needle in html:
            return html


async def inbox_with_pane(user: User, shown: ApprovalRequest) -> tuple[WebsocketCommunicator, str]:
    """The inbox's socket once it said that its pane shows `shown`, and that request's live part."""
    communicator, accepted, _ = await connect(user, "subscribe=approvals&view=approvals")
    assert accepted is True
    await communicator.receive_from(timeout=5)  # the rows
    await communicator.send_to(text_data=json.dumps({"pane": str(shown.id)}))
    return communicator, await receive_until(communicator, f'id="pane-live-{shown.id}"')


def test_the_inbox_pane_follows_its_request_claimed_then_timed_out(engineer: User, reviewer: User) -> None:
    """The inbox says which request its pane shows; the consumer sends that request's live part at
    once, then on each change: another reviewer's claim (the pane may not decide: held), and the
    queue's timeout rejecting it (settled by the rule, the next request offered)."""
    first, second = (queued_refund(engineer, 250) for _ in range(2))
    for run in (first, second):
        assert runtime.execute(run.id) == Run.Status.WAITING
    shown, following = (ApprovalRequest.objects.get(run=run) for run in (first, second))
    other = make_user("other", "reviewers")
    settle(live.APPROVALS_GROUP)

    def time_out() -> None:
        ApprovalRequest.objects.filter(id=shown.id).update(due_at=timezone.now() - timezone.timedelta(minutes=1))
        Queue.objects.filter(id=shown.queue_id).update(timeout_action=Queue.TimeoutAction.REJECT)
        enforce_sla()

    async def scenario() -> None:
        communicator, html = await inbox_with_pane(reviewer, shown)
        assert 'data-status="pending" data-decidable="true" hx-swap-oob="true"' in html

        await sync_to_async(_closing(claim), thread_sensitive=False)(shown.id, other)
        html = await receive_until(communicator, 'data-decidable="false"')
        assert f'id="pane-live-{shown.id}"' in html and "other is on this request" in html

        await sync_to_async(_closing(time_out), thread_sensitive=False)()
        html = await receive_until(communicator, 'data-status="rejected"')
        assert f'id="pane-live-{shown.id}"' in html and "Rejected</strong> by sla: payments" in html
        assert f'id="pane-next" class="pane-next" data-id="{following.id}"' in html
        assert f'<li id="approval-{shown.id}"' not in html  # its row left the list
        await communicator.disconnect()

    run_async(scenario)


def test_a_request_that_arrives_is_counted_not_listed_until_the_list_is_read_again(engineer: User, reviewer: User) -> None:
    """The inbox read at a time (`since`): a refund that arrives after it is not pushed into the
    rows, the bar counts it; once the page says its list was read again with it on top (`fresh`),
    the rows pushed are that list's, the new one first and marked new, and the bar is empty."""
    first = queued_refund(engineer, 250)
    assert runtime.execute(first.id) == Run.Status.WAITING
    listed = ApprovalRequest.objects.get(run=first)
    read = InboxFilters(since=timezone.now().isoformat())
    settle(live.APPROVALS_GROUP)

    async def scenario() -> None:
        communicator, accepted, _ = await connect(reviewer, f"subscribe=approvals&view=approvals&{read.as_query()}")
        assert accepted is True
        html = await communicator.receive_from(timeout=5)
        assert '<div class="new-requests" id="new-requests" role="status" hx-swap-oob="true"></div>' in html, html

        arrived = await sync_to_async(_closing(lambda: runtime.execute(queued_refund(engineer, 300).id)), thread_sensitive=False)()
        assert arrived == Run.Status.WAITING
        html = await receive_until(communicator, "1 new request — show")
        rows = re.findall(r'<li id="approval-([0-9a-f-]{36})"', html)
        assert rows == [str(listed.id)], html

        shown = InboxFilters(since=timezone.now().isoformat(), fresh=read.since)
        await communicator.send_to(text_data=json.dumps({"pane": None, "inbox": shown.as_query()}))
        html = await receive_until(communicator, 'class="approval new')
        rows = re.findall(r'<li id="approval-([0-9a-f-]{36})" class="approval( new)?', html)
        assert [(row != str(listed.id), new) for row, new in rows] == [(True, " new"), (False, "")], html
        assert '<div class="new-requests" id="new-requests" role="status" hx-swap-oob="true"></div>' in html
        await communicator.disconnect()

    run_async(scenario)


def test_another_reviewers_vote_reaches_the_pane(engineer: User, reviewer: User) -> None:
    """With a quorum of two, the pane's live part is pushed on each vote: "1 of 2 approvals: b",
    still decidable; the second vote settles it, approved by c, both named."""
    Queue.objects.filter(name="payments").update(required_approvals=2)
    run = queued_refund(engineer, 250)
    assert runtime.execute(run.id) == Run.Status.WAITING
    shown = ApprovalRequest.objects.get(run=run)
    b, c = make_user("b", "reviewers"), make_user("c", "reviewers")
    settle(live.APPROVALS_GROUP)

    async def scenario() -> None:
        communicator, html = await inbox_with_pane(reviewer, shown)
        assert "<strong>0 of 2</strong> approvals." in html

        await sync_to_async(decide_and_close, thread_sensitive=False)(shown.id, b)
        html = await receive_until(communicator, "<strong>1 of 2</strong> approvals: b.")
        assert 'data-status="pending" data-decidable="true"' in html

        await sync_to_async(decide_and_close, thread_sensitive=False)(shown.id, c)
        html = await receive_until(communicator, 'data-status="approved"')
        assert "<strong>Approved</strong> by c" in html and "Approvals: b, c." in html
        await communicator.disconnect()

    run_async(scenario)


def test_a_pane_message_is_ignored_without_the_inbox_view(engineer: User, reviewer: User) -> None:
    """Only the inbox (view=approvals) has a pane: elsewhere the message changes nothing, and a
    message that is not one is ignored too."""
    run = queued_refund(engineer, 250)
    assert runtime.execute(run.id) == Run.Status.WAITING
    approval = ApprovalRequest.objects.get(run=run)
    settle(live.APPROVALS_GROUP)

    async def scenario() -> None:
        communicator, accepted, _ = await connect(reviewer, "subscribe=approvals")
        assert accepted is True
        await communicator.receive_from(timeout=5)
        await communicator.send_to(text_data=json.dumps({"pane": str(approval.id)}))
        await communicator.send_to(text_data="not json")
        assert await communicator.receive_nothing(timeout=0.5)
        await communicator.disconnect()

    run_async(scenario)


def test_reviewer_without_the_list_view_gets_only_the_nav_count(engineer: User, reviewer: User) -> None:
    """On other pages (no view=approvals) a reviewer gets the nav count but not the rows."""
    run = queued_refund(engineer, 250)
    assert runtime.execute(run.id) == Run.Status.WAITING
    settle(live.APPROVALS_GROUP)

    async def scenario() -> None:
        communicator, accepted, _ = await connect(reviewer, "subscribe=approvals")
        assert accepted is True
        html = await communicator.receive_from(timeout=5)
        assert 'id="nav-pending" hx-swap-oob="true"' in html
        assert 'data-count="1"' in html
        assert "approval-rows" not in html
        await communicator.disconnect()

    run_async(scenario)


def test_a_big_run_is_sent_in_messages_under_the_cap(engineer: User) -> None:
    """A run of 2,000 spans with a 2 MB output: on connect, one message under MESSAGE_BYTES with the
    header, the clipped output, the first rows and the latest span number (the page loads the rest
    from the API); 450 new spans then come in several messages, each under the cap, every new span
    once and in order."""
    from console.web.consumers import MESSAGE_BYTES, PUSH_ROWS

    run = queued_refund(engineer, 50)
    group = live.run_group(run.id)
    settle(group)
    Run.objects.filter(id=run.id).update(output={"answer": "y" * 2_000_000})
    at = timezone.now()

    def add(first: int, count: int) -> list[int]:
        Span.objects.bulk_create(
            Span(run=run, seq=seq, kind=Span.Kind.TOOL, name=f"lookup-{seq}", status=Span.Status.OK, started_at=at)
            for seq in range(first, first + count)
        )
        return list(range(first, first + count))

    add(0, 2000)

    async def scenario() -> None:
        communicator, accepted, _ = await connect(engineer, f"subscribe={group}")
        assert accepted is True
        first = [await communicator.receive_from(timeout=20)] + await drain(communicator, quiet=1)
        assert len(first) == 1 and len(first[0].encode()) < MESSAGE_BYTES
        assert FULL_SPANS in first[0] and span_seqs(first[0]) == list(range(PUSH_ROWS))
        assert 'data-last-seq="1999"' in first[0]
        assert "more characters in the API" in first[0], "the output is clipped"

        new = await database_sync_to_async(add)(2000, 450)
        await get_channel_layer().group_send(group, {"type": "steward.event", "group": group, "seq": live.current_seq(group) + 1})
        pages = [await communicator.receive_from(timeout=20)] + await drain(communicator, quiet=2)
        assert len(pages) > 1 and all(len(html.encode()) < MESSAGE_BYTES for html in pages)
        assert [seq for html in pages for seq in span_seqs(html)] == new
        assert 'id="run-header"' in pages[0]
        await communicator.disconnect()

    run_async(scenario)


def test_the_inbox_push_renders_the_page_the_reviewer_is_on(reviewer: User) -> None:
    """view=approvals with the inbox's cursor: the pushed rows are that page's (the second page's
    rows after its cursor), with its page links, the same fragment the page rendered."""
    call_command("seed_approvals", pending=PAGE_SIZE + 5, seed=11, stdout=None)
    first = filtered_inbox(reviewer, InboxFilters())
    second = filtered_inbox(reviewer, InboxFilters(cursor=first.next_cursor))
    settle(live.APPROVALS_GROUP)

    async def scenario() -> None:
        communicator, accepted, _ = await connect(reviewer, f"subscribe=approvals&view=approvals&{second.filters.as_query()}")
        assert accepted is True
        html = await communicator.receive_from(timeout=5)
        rows = re.findall(r'<li id="approval-([0-9a-f-]{36})"', html)
        assert rows == [str(r.id) for r in second.requests] and len(rows) == 5
        assert 'id="first-page"' in html and 'id="next-page"' not in html
        await communicator.disconnect()

    run_async(scenario)
