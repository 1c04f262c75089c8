"""The inbox read at a time: what arrives after it is counted by the "N new requests" bar, not
slipped into the rows, and once shown it goes on top of the list, which the next request follows."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.http import QueryDict
from django.utils import timezone

from approvals.inbox import INBOX_ORDER, PAGE_SIZE, InboxFilters, filtered_inbox, new_count, next_after
from approvals.models import ApprovalRequest
from tests.support.runs import waiting_refund
from tests.support.users import make_user

pytestmark = pytest.mark.django_db(transaction=True)

ROW = re.compile(r'<li id="approval-([0-9a-f-]{36})" class="approval( new)?')


def _arrivals(engineer: Any, count: int) -> list[Any]:
    return [waiting_refund(engineer)[1] for _ in range(count)]


def test_what_arrives_after_the_list_was_read_is_counted_for_its_filters_and_queues(engineer: Any, reviewer: Any) -> None:
    listed = _arrivals(engineer, 2)
    read = InboxFilters(since=timezone.now().isoformat())
    _arrivals(engineer, 1)
    assert [r.id for r in filtered_inbox(reviewer, read).requests] == [r.id for r in listed]
    assert new_count(reviewer, read) == 1
    assert new_count(reviewer, InboxFilters(since=read.since, queue="default")) == 0
    assert new_count(reviewer, InboxFilters(since=read.since, age="1h")) == 0
    assert new_count(make_user("another-reviewer", "reviewers"), read) == 1  # reviewers review payments
    assert new_count(make_user("not-a-reviewer", "engineers"), read) == 0
    assert new_count(reviewer, InboxFilters()) == 0  # a list read with no time has nothing new
    assert len(filtered_inbox(reviewer, InboxFilters()).requests) == 3


def test_shown_new_requests_go_on_top_and_the_next_request_follows_the_list_as_shown(engineer: Any, reviewer: Any) -> None:
    """After the last new one comes the top of the list under them; after the list's last, the
    first of the new ones."""
    a, b = _arrivals(engineer, 2)
    read = InboxFilters(since=timezone.now().isoformat())
    c, d = _arrivals(engineer, 2)
    shown = InboxFilters.from_query(QueryDict(read.show_new_query())).read_now()
    assert shown.fresh == read.since and shown.since > read.since
    page = filtered_inbox(reviewer, shown)
    assert [r.id for r in page.fresh] == [c.id, d.id] and [r.id for r in page.requests] == [a.id, b.id]
    assert next_after(reviewer, shown, c) == d
    assert next_after(reviewer, shown, d) == a
    assert next_after(reviewer, shown, a, page) == b
    assert next_after(reviewer, shown, b) == c
    assert new_count(reviewer, shown) == 0


def test_a_time_the_server_did_not_write_is_dropped() -> None:
    filters = InboxFilters.from_query(QueryDict("since=yesterday&fresh=2026-12-07T10:00:00"))
    assert filters.since == "" and filters.fresh == ""  # a naive time is not one we wrote either
    assert filters.since_at is None and filters.fresh_at is None


def test_the_show_answer_is_the_rows_and_the_bar_out_of_band(engineer: Any, reviewer: Any, client_for: Any) -> None:
    """`?…&rows=1` from htmx: the list again with the new ones on top, marked new, and the bar
    empty, both out of band; the same link without JavaScript is the page with them on top. A
    page whose link carried its time shows the bar with its count."""
    a, b = _arrivals(engineer, 2)
    read = InboxFilters(since=timezone.now().isoformat())
    (c,) = _arrivals(engineer, 1)
    client = client_for(reviewer)

    page = client.get("/approvals/?" + read.as_query()).content.decode()
    assert ROW.findall(page) == [(str(a.id), ""), (str(b.id), "")]
    assert re.search(r'id="show-new"[^>]*>1 new request — show', page)

    answer = client.get(f"/approvals/?{read.show_new_query()}&rows=1", HTTP_HX_REQUEST="true")
    html = answer.content.decode()
    assert html.strip().startswith('<div id="approval-rows" hx-swap-oob="true" ')
    assert ROW.findall(html) == [(str(c.id), " new"), (str(a.id), ""), (str(b.id), "")]
    assert '<div class="new-requests" id="new-requests" role="status" hx-swap-oob="true"></div>' in html
    assert "<html" not in html

    page = client.get(f"/approvals/?{read.show_new_query()}").content.decode()
    assert ROW.findall(page) == [(str(c.id), " new"), (str(a.id), ""), (str(b.id), "")]


def _newest_after(count: int) -> str:
    """A time just before the `count` newest pending requests were created: as a `fresh`, they
    are the ones that arrived between it and now."""
    created = ApprovalRequest.objects.pending().order_by("-created_at").values_list("created_at", flat=True)
    return (created[count - 1] - timedelta(microseconds=1)).isoformat()


def _every_page(user: Any, filters: InboxFilters) -> list[Any]:
    """Every row of the list, first page to last, as its links lead (each page's own filters)."""
    page = filtered_inbox(user, filters)
    rows = page.fresh + page.requests
    while page.next_cursor:
        page = filtered_inbox(user, replace(page.filters, cursor=page.next_cursor))
        assert page.fresh == []
        rows += page.requests
    return [r.id for r in rows]


def test_more_new_requests_than_a_page_are_not_put_on_top_the_list_is_read_again_in_order(reviewer: Any) -> None:
    """Over a page of them the new requests would push some off every page: the list is read
    again in its order, with them in it, and every request is on one page; the next request
    follows that order."""
    call_command("seed_approvals", pending=PAGE_SIZE + 5, seed=7, stdout=None)
    everything = [r.id for r in ApprovalRequest.objects.pending().order_by(*INBOX_ORDER)]
    shown = InboxFilters(since=timezone.now().isoformat(), fresh=_newest_after(PAGE_SIZE + 1))
    page = filtered_inbox(reviewer, shown)
    assert page.fresh == [] and page.filters.fresh == "" and page.filters.since == shown.since
    assert [r.id for r in page.requests] == everything[:PAGE_SIZE]
    assert _every_page(reviewer, shown) == everything
    assert next_after(reviewer, shown, page.requests[0]).id == everything[1]
    assert next_after(reviewer, shown, page.requests[-1]).id == everything[PAGE_SIZE]


def test_the_new_requests_are_on_top_of_the_first_page_only_and_show_goes_to_the_first(
    reviewer: Any, client_for: Any
) -> None:
    """The pages after the first go on under it (the new ones are not repeated on top of each),
    its pane starts at its own first row; "show" on a later page lists the first, with the new ones."""
    call_command("seed_approvals", pending=PAGE_SIZE + 5, seed=8, stdout=None)
    shown = InboxFilters(since=timezone.now().isoformat(), fresh=_newest_after(3))
    first = filtered_inbox(reviewer, shown)
    assert len(first.fresh) == 3 and len(first.requests) == PAGE_SIZE
    second = filtered_inbox(reviewer, replace(shown, cursor=first.next_cursor))
    assert second.fresh == [] and len(second.requests) == 2
    assert len(set(_every_page(reviewer, shown))) == PAGE_SIZE + 5

    html = client_for(reviewer).get(f"/approvals/?{first.next_query()}").content.decode()
    assert ROW.findall(html) == [(str(r.id), "") for r in second.requests]
    assert f'id="pane-body" data-approval-id="{second.requests[0].id}"' in html
    assert "cursor" not in QueryDict(second.filters.show_new_query())


def test_a_decision_in_the_pane_answers_with_the_list_as_it_was_read_again(reviewer: Any, client_for: Any) -> None:
    """Over a page of new requests, the rows a pane decision sends back carry the list's query
    without `fresh` (read again in order), which the pane and the live socket then follow."""
    call_command("seed_approvals", pending=PAGE_SIZE + 5, seed=9, stdout=None)
    shown = InboxFilters(since=timezone.now().isoformat(), fresh=_newest_after(PAGE_SIZE + 1))
    decided = filtered_inbox(reviewer, shown).requests[0]
    answer = client_for(reviewer).post(
        f"/approvals/{decided.id}/decide", {"decision": "approve", "pane": "1", "inbox": shown.as_query()}
    )
    assert answer.status_code == 200, answer.content
    (query,) = re.findall(r'<div id="approval-rows" hx-swap-oob="true" data-inbox="([^"]*)"', answer.content.decode())
    assert "fresh" not in QueryDict(query.replace("&amp;", "&")) and "since" in QueryDict(query.replace("&amp;", "&"))
