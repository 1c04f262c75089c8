"""The questions a run puts to its requester (the queue's `requester_may_answer`) reach them: the
inbox lists them under "Asked of you" (a requester who reviews no queue sees only those, while
there are some), and the requester is mailed a link to the request's page when one opens. A gate
(four-eyes) is neither listed as theirs nor mailed to them.

Runs are real (`question` and the refund agent, executed in-process); mail goes to Django's
locmem outbox.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents.engine import runtime
from agents.engine.models import Run
from approvals.inbox import InboxFilters, asked_count, filtered_inbox, pending_count
from approvals.models import ApprovalRequest, Queue
from tests.support.clients import logged_in
from tests.support.runs import waiting_question, waiting_refund
from tests.support.users import make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]

ROW = re.compile(r'<li id="approval-([0-9a-f-]{36})"')
PAGE_URL = re.compile(r"^(https?://\S+/approvals/([0-9a-f-]{36})/)$", re.M)


def _rows(page: Any) -> list[str]:
    assert page.status_code == 200, page.status_code
    return ROW.findall(page.content.decode())


def _mail_to(mailoutbox: list[Any], user: User) -> list[Any]:
    return [m for m in mailoutbox if m.to == [user.email]]


def test_a_requester_in_no_queue_finds_their_question_in_the_inbox_and_answers_it_there(
    roles: None, purge_broker: None
) -> None:
    asker = make_user("asker", "engineers", email="asker@example.com")
    question = waiting_question(asker)
    # Neither another engineer's question nor the asker's own gated refund is theirs to answer.
    others = waiting_question(make_user("other", "engineers"))
    _, gate = waiting_refund(asker)
    browser = logged_in(asker)

    # The navigation shows the way in, with the count, on any page.
    nav = browser.get("/runs/").content.decode()
    assert '<a href="/approvals/" title="Questions your runs ask you">Approvals' in nav and 'data-count="1"' in nav
    page = browser.get("/approvals/")
    assert _rows(page) == [str(question.id)]
    text = page.content.decode()
    assert 'id="asked-tab" aria-current="page"' in text and '<span class="badge" id="asked-count">1</span>' in text
    # Reviewers' tools are not offered: no queues, no bulk decisions, no "next request".
    assert "All my queues" not in text and 'id="bulk-form"' not in text and 'id="next-form"' not in text
    # Its pane is the first row's, with the answer form, posting back to the same list.
    assert 'id="answer-value"' in text and '"inbox": "asked\\u003D1' in text
    assert str(others.id) not in text and str(gate.id) not in text

    answered = browser.post(
        f"/approvals/{question.id}/decide",
        {"decision": "answer", "answer_mode": "json", "value": '"A-7"', "pane": "1", "inbox": "asked=1"},
    )
    assert answered.status_code == 200, answered.content
    pane = answered.content.decode()
    assert "Responded" in pane and "Nothing waiting for you." in pane
    question.refresh_from_db()
    assert question.status == "responded" and question.decided_by == asker
    assert runtime.execute(question.run_id) == Run.Status.SUCCEEDED
    assert Run.objects.get(id=question.run_id).output == {"answer": "A-7"}
    # Nothing is asked of them any more: the inbox is the reviewers' again.
    assert browser.get("/approvals/").status_code == 403
    assert 'title="Questions your runs ask you"' not in browser.get("/runs/").content.decode()


def test_the_requester_is_mailed_a_link_they_answer_from_but_not_for_a_gate(
    roles: None, purge_broker: None, mailoutbox: list[Any]
) -> None:
    asker = make_user("asker", "engineers", email="asker@example.com")
    make_user("rev", "reviewers", email="rev@example.com")
    question = waiting_question(asker)

    (mail,) = _mail_to(mailoutbox, asker)
    assert mail.subject == "[Steward] Your run asks you: What is the order id?"
    assert "What is the order id?" in mail.body and "Asked of you" in mail.body
    ((url, approval_id),) = PAGE_URL.findall(mail.body)
    assert url == f"{settings.STEWARD_BASE_URL}/approvals/{question.id}/" and approval_id == str(question.id)
    # The link opens the request's page (signed in), where the requester answers it.
    browser = logged_in(asker)
    path = url.removeprefix(settings.STEWARD_BASE_URL)
    page = browser.get(path)
    assert page.status_code == 200 and 'id="answer-value"' in page.content.decode()
    answered = browser.post(f"{path}decide", {"decision": "answer", "answer_mode": "json", "value": '"A-9"'})
    assert answered.status_code == 302 and answered["Location"] == f"/runs/{question.run_id}/"
    # The queue's reviewers are mailed as before (the requester is not among them).
    assert [m.to for m in mailoutbox if "rev@example.com" in m.to] == [["rev@example.com"]]

    mailoutbox.clear()
    _, gate = waiting_refund(asker)
    assert gate.queue.name == "payments" and not gate.is_put_to(asker)
    assert _mail_to(mailoutbox, asker) == []
    # Under `never` a question goes to the reviewers alone too.
    Queue.objects.filter(name="default").update(requester_may_answer=Queue.RequesterMayAnswer.NEVER)
    waiting_question(asker)
    assert _mail_to(mailoutbox, asker) == []
    # No address, no mail (and nothing fails).
    mailoutbox.clear()
    Queue.objects.filter(name="default").update(requester_may_answer=Queue.RequesterMayAnswer.DEFAULT)
    waiting_question(make_user("silent", "engineers"))
    assert [m.to for m in mailoutbox] == [["rev@example.com"]]


def test_reviewers_see_the_question_as_usual_and_a_gate_is_not_asked_of_its_requester(
    roles: None, purge_broker: None
) -> None:
    asker = make_user("asker", "engineers")
    question = waiting_question(asker)
    reviewer = make_user("rev", "reviewers")
    # The queue's reviewer: in their queues, nothing asked of them.
    page = logged_in(reviewer).get("/approvals/")
    assert str(question.id) in _rows(page) and 'id="asked-tab"' not in page.content.decode()
    assert _rows(logged_in(reviewer).get("/approvals/", {"asked": "1"})) == []

    # A reviewer who started runs: their question is in their queue and asked of them; their
    # gated refund is in a queue they review, but four-eyes: not theirs to answer.
    both = make_user("both", "engineers", "reviewers")
    theirs = waiting_question(both)
    _, gate = waiting_refund(both)
    client = logged_in(both)
    mine = _rows(client.get("/approvals/"))
    assert str(theirs.id) in mine and str(gate.id) in mine and str(question.id) in mine
    asked = client.get("/approvals/", {"asked": "1"})
    assert _rows(asked) == [str(theirs.id)]
    assert '<span class="badge" id="asked-count">1</span>' in asked.content.decode()
    assert asked_count(both) == 1 and pending_count(both) == len(mine)

    # A requester who reviews no queue, with only a gate waiting: nothing is asked of them.
    gated_only = make_user("gated", "engineers")
    _, own_gate = waiting_refund(gated_only)
    assert asked_count(gated_only) == 0 and pending_count(gated_only) == 0
    assert logged_in(gated_only).get("/approvals/").status_code == 403
    assert logged_in(gated_only).get(f"/approvals/{own_gate.id}/", {"pane": "1"}).status_code == 403


@pytest.mark.parametrize("setting", [s.value for s in Queue.RequesterMayAnswer])
def test_asked_of_you_lists_exactly_the_requests_put_to_the_requester(roles: None, purge_broker: None, setting: str) -> None:
    """The inbox's query and `ApprovalRequest.is_put_to` (what deciding checks) agree, whatever
    the queues say: a question, a gate, in each setting."""
    Queue.objects.update(requester_may_answer=setting)
    asker = make_user("asker", "engineers")
    requests = [waiting_question(asker), waiting_refund(asker)[1], waiting_question(make_user("other", "engineers"))]
    listed = {r.id for r in filtered_inbox(asker, InboxFilters(asked="1")).requests}
    put_to = {r.id for r in ApprovalRequest.objects.select_related("queue").filter(id__in=[r.id for r in requests]) if r.is_put_to(asker)}
    assert listed == put_to
    assert len(put_to) == {"default": 1, "always": 2, "never": 0}[setting]


def test_asked_of_you_is_keyset_paged_with_no_query_per_row(roles: None, purge_broker: None) -> None:
    asker = make_user("asker", "engineers")
    first = waiting_question(asker)
    client = logged_in(asker)
    with CaptureQueriesContext(connection) as one_row:
        assert len(_rows(client.get("/approvals/"))) == 1
    questions = [first, waiting_question(asker), waiting_question(asker)]
    with CaptureQueriesContext(connection) as three_rows:
        assert len(_rows(client.get("/approvals/"))) == 3
    assert len(three_rows) == len(one_row), "no query per listed question"

    page = filtered_inbox(asker, InboxFilters(asked="1"), limit=2)
    assert len(page.requests) == 2 and page.next_cursor
    rest = filtered_inbox(asker, InboxFilters(asked="1", cursor=page.next_cursor), limit=2)
    assert [r.id for r in page.requests + rest.requests] == [q.id for q in questions] and rest.next_cursor == ""


def test_a_reviewer_group_without_the_reviewers_role_shows_only_the_questions_in_the_inbox(
    roles: None, purge_broker: None
) -> None:
    """A queue's reviewer group may be any group; reviewing is the reviewers role's. A member
    without it who is asked something sees their questions, counts those, and neither a row nor
    a pane of the queue's requests, whatever the query asks for."""
    asker = make_user("asker", "engineers", "finance")
    Queue.objects.get(name="payments").reviewer_groups.add(Group.objects.get(name="finance"))
    question, (_, gate) = waiting_question(asker), waiting_refund(make_user("other", "engineers"))
    browser = logged_in(asker)

    page = browser.get(f"/approvals/?queue=payments&selected={gate.id}")
    assert _rows(page) == [] and str(gate.id) not in page.content.decode()
    page = browser.get("/approvals/")
    assert _rows(page) == [str(question.id)] and 'data-count="1"' in page.content.decode()
    pane = browser.get(f"/approvals/{question.id}/", {"pane": "1", "inbox": "queue=payments"}).content.decode()
    assert 'id="answer-value"' in pane and str(gate.id) not in pane


def test_a_requester_whose_group_the_queue_excludes_is_not_asked(roles: None, purge_broker: None) -> None:
    """Separation of duties holds for the requester too (deciding refuses them): their question
    is not listed, counted, nor a way into the inbox."""
    asker = make_user("asker", "engineers", "contractors")
    Queue.objects.get(name="default").excluded_groups.add(Group.objects.get(name="contractors"))
    question = waiting_question(asker)
    assert question.is_put_to(asker)  # the queue's setting would let them answer, but for the exclusion
    assert filtered_inbox(asker, InboxFilters(asked="1")).requests == [] and asked_count(asker) == 0
    browser = logged_in(asker)
    assert browser.get("/approvals/").status_code == 403
    assert 'title="Questions your runs ask you"' not in browser.get("/runs/").content.decode()


def test_the_requesters_run_page_follows_their_question_count_live(roles: None, purge_broker: None) -> None:
    """While their run asks them something, the run's page joins the approvals' live group (its
    navigation's count follows), as every other page does for them."""
    asker = make_user("asker", "engineers")
    question = waiting_question(asker)
    page = logged_in(asker).get(f"/runs/{question.run_id}/").content.decode()
    assert f'ws-connect="/ws/live/?subscribe=run-{question.run_id}&subscribe=approvals"' in page


def test_the_inbox_page_counts_the_questions_once_for_its_tab_and_the_navigation(roles: None, purge_broker: None) -> None:
    asker = make_user("asker", "engineers")
    waiting_question(asker)
    with CaptureQueriesContext(connection) as queries:
        page = logged_in(asker).get("/approvals/").content.decode()
    assert '<span class="badge" id="asked-count">1</span>' in page and 'data-count="1"' in page
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"] and '"requested_by_id"' in q["sql"]]
    assert len(counts) == 1, counts
