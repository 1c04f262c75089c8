"""The inbox read at a time: what arrives after it is counted by the "N new requests" bar, not
slipped into the rows, and once shown it goes on top of the list, which the next request follows."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.http import QueryDict
from django.utils import timezone

from approvals.inbox import InboxFilters, filtered_inbox, new_count, next_after
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
