"""The inbox page at volume: keyset pages of 50, the pane, and deciding from the pane."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from approvals.inbox import APPROVERS_SHOWN, PAGE_SIZE
from approvals.models import ApprovalRequest, Queue
from approvals.services import decide
from tests.support.runs import waiting_refund
from tests.support.users import make_user

pytestmark = pytest.mark.django_db(transaction=True)

ROW_ID = re.compile(r'<li id="approval-([0-9a-f-]{36})"')
NEXT = re.compile(r'<a href="\?([^"]*)" id="next-page">')


def test_three_hundred_pending_are_read_fifty_a_page_by_keyset_in_due_order(reviewer: Any, client_for: Any) -> None:
    """310 pending requests: pages of 50, due first, each request once; the query pages by
    (due_at, created_at, id), never OFFSET; the first page is small."""
    call_command("seed_approvals", pending=310, seed=7, stdout=None)
    client = client_for(reviewer)
    expected = [
        str(i) for i in ApprovalRequest.objects.pending().order_by("due_at", "created_at", "id").values_list("id", flat=True)
    ]
    seen: list[str] = []
    query = ""
    for _ in range(10):
        with CaptureQueriesContext(connection) as queries:
            page = client.get("/approvals/?" + query)
        html = page.content.decode()
        rows = ROW_ID.findall(html)
        assert len(rows) <= PAGE_SIZE
        if not seen:
            assert len(rows) == PAGE_SIZE and len(page.content) < 120_000, len(page.content)
        assert not any("OFFSET" in q["sql"] for q in queries.captured_queries)
        seen += rows
        found = NEXT.search(html)
        if found is None:
            break
        query = found.group(1).replace("&amp;", "&")
        assert "cursor=" in query
    assert seen == expected
    assert 'id="first-page"' in html


def test_filters_stay_on_the_next_page_and_a_bad_cursor_shows_the_first(reviewer: Any, client_for: Any) -> None:
    call_command("seed_approvals", pending=60, seed=3, stdout=None)
    client = client_for(reviewer)
    html = client.get("/approvals/?queue=payments&agent=refund").content.decode()
    found = NEXT.search(html)
    assert found and "queue=payments" in found.group(1) and "agent=refund" in found.group(1)
    page = client.get("/approvals/?cursor=not-ours")
    assert page.status_code == 200
    assert "not one this server gave" in page.content.decode()
    assert len(ROW_ID.findall(page.content.decode())) == PAGE_SIZE


def test_the_pane_shows_a_request_without_claiming_it(engineer: Any, reviewer: Any, client_for: Any) -> None:
    """Looking at a request in the pane is not claiming it (browsing with j/k writes nothing)."""
    _, request = waiting_refund(engineer)
    response = client_for(reviewer).get(f"/approvals/{request.id}/?pane=1")
    html = response.content.decode()
    assert response.status_code == 200 and response["HX-Push-Url"] == "false"
    assert f'data-approval-id="{request.id}"' in html and 'id="approve-button"' in html
    assert "<html" not in html  # the fragment alone
    request.refresh_from_db()
    assert request.claimed_by is None


def test_deciding_in_the_pane_answers_with_the_next_request_and_the_rows(engineer: Any, reviewer: Any, client_for: Any) -> None:
    """A decision posted from the pane: the next request of the list in the pane, the rows without
    the decided one (out of band); a refused one: the same request with the reason, 409."""
    first, second = (waiting_refund(engineer)[1] for _ in range(2))
    client = client_for(reviewer)
    response = client.post(f"/approvals/{first.id}/decide", {"decision": "approve", "pane": "1", "inbox": "queue=payments"})
    html = response.content.decode()
    assert response.status_code == 200 and response["HX-Push-Url"] == "false"
    assert f'id="pane-body" data-approval-id="{second.id}"' in html
    assert "Approved: " in html
    rows = html[html.index('<div id="approval-rows" hx-swap-oob="true" '):]
    assert ROW_ID.findall(rows) == [str(second.id)]
    assert ApprovalRequest.objects.get(id=first.id).status == "approved"

    again = client.post(f"/approvals/{first.id}/decide", {"decision": "approve", "pane": "1", "inbox": ""})
    assert again.status_code == 409
    assert f'data-approval-id="{first.id}"' in again.content.decode() and 'id="problem"' in again.content.decode()

    last = client.post(f"/approvals/{second.id}/decide", {"decision": "reject", "reason_code": "policy", "pane": "1", "inbox": ""})
    assert "Nothing else is waiting in this list." in last.content.decode()


def test_a_decision_on_a_request_another_reviewer_decided_is_refused_in_the_pane(
    engineer: Any, reviewer: Any, client_for: Any
) -> None:
    """The pane posted after someone else decided (its forms were still enabled, a push late): 409,
    the pane says who decided it, shows no forms, offers the next request; nothing recorded."""
    first, second = (waiting_refund(engineer)[1] for _ in range(2))
    other = make_user("other", "reviewers")
    assert decide(first.id, other, "reject", reason_code="policy").status == "rejected"
    response = client_for(reviewer).post(f"/approvals/{first.id}/decide", {"decision": "approve", "pane": "1", "inbox": ""})
    html = response.content.decode()
    assert response.status_code == 409
    assert re.search(r'id="problem">this request is already rejected, by other at <time datetime="[^"]+" data-local ', html), html
    assert f'id="pane-live-{first.id}" data-status="rejected" data-decidable="false"' in html
    assert "<strong>Rejected</strong> by other" in html
    assert 'id="approve-button"' not in html  # a settled request has no forms
    assert f'id="pane-next" class="pane-next" data-id="{second.id}"' in html
    assert ApprovalRequest.objects.get(id=first.id).decisions.count() == 1


def test_the_queue_tabs_keep_the_selected_request_s_queue(engineer: Any, reviewer: Any, client_for: Any) -> None:
    """The pane's reassign list leaves out the request's own queue; the inbox's tabs do not."""
    _, request = waiting_refund(engineer)
    html = client_for(reviewer).get("/approvals/").content.decode()
    tabs = html.split(">All my queues</a>")[1].split("</nav>")[0]
    assert f'href="?queue={request.queue.name}"' in tabs, tabs
    page = client_for(reviewer).get(f"/approvals/{request.id}/").content.decode()
    reassign = page.split("<label>Queue<select")[1].split("</select>")[0]
    assert "<option>" in reassign
    assert f"<option>{request.queue.name}</option>" not in reassign


def test_the_agent_filter_reads_the_requests_own_agent(engineer: Any, reviewer: Any, client_for: Any) -> None:
    """A request keeps its run's agent (the inbox filters on it with an index of its own): the
    refund's request is listed under `refund` and not under another agent or an unknown one."""
    run, request = waiting_refund(engineer)
    assert request.agent_id == run.agent_id
    client = client_for(reviewer)
    assert str(request.id) in client.get("/approvals/?agent=refund").content.decode()
    assert str(request.id) not in client.get("/approvals/?agent=stock_check").content.decode()
    assert str(request.id) not in client.get("/approvals/?agent=no-such-agent").content.decode()


def test_with_a_quorum_the_pane_names_the_votes_and_waits_after_mine(engineer: Any, reviewer: Any, client_for: Any) -> None:
    """Three approvals needed: the pane says who approved so far; once the reviewer has approved,
    their pane says it waits for one more and its forms are off (a second vote is refused anyway)."""
    Queue.objects.filter(name="payments").update(required_approvals=3)
    _, request = waiting_refund(engineer)
    decide(request.id, make_user("ann", "reviewers"), "approve")
    client = client_for(reviewer)
    html = client.get(f"/approvals/{request.id}/?pane=1").content.decode()
    assert "<strong>1 of 3</strong> approvals: ann." in html and "2 more needed." in html
    assert f'id="pane-live-{request.id}" data-status="pending" data-decidable="true"' in html
    decide(request.id, reviewer, "approve")
    html = client.get(f"/approvals/{request.id}/?pane=1").content.decode()
    assert "<strong>2 of 3</strong> approvals: ann, reviewer." in html
    assert "You approved; it waits for 1 more reviewer." in html
    assert f'id="pane-live-{request.id}" data-status="pending" data-decidable="false"' in html


def test_in_a_quorum_bigger_than_the_names_shown_my_late_vote_still_turns_my_forms_off(
    engineer: Any, reviewer: Any, client_for: Any
) -> None:
    """The pane names the first APPROVERS_SHOWN voters; a reviewer who voted after them has voted
    all the same: their pane waits, its forms off."""
    Queue.objects.filter(name="payments").update(required_approvals=APPROVERS_SHOWN + 2)
    _, request = waiting_refund(engineer)
    for number in range(APPROVERS_SHOWN):
        decide(request.id, make_user(f"early-{number}", "reviewers"), "approve")
    decide(request.id, reviewer, "approve")
    html = client_for(reviewer).get(f"/approvals/{request.id}/?pane=1").content.decode()
    names = ", ".join(f"early-{number}" for number in range(APPROVERS_SHOWN))
    assert f"approvals: {names} and 1 more." in html  # not named
    assert "You approved; it waits for 1 more reviewer." in html
    assert f'id="pane-live-{request.id}" data-status="pending" data-decidable="false"' in html
