"""The approvals list: oldest first, keyset-paginated, only the caller's queues."""

from __future__ import annotations

from typing import Any

import pytest

from approvals.models import Queue
from tests.support.runs import waiting_refund
from tests.support.users import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_pages_follow_the_cursor_without_gaps_or_repeats(engineer: Any, reviewer: Any, api: Any) -> None:
    """Five pending requests read two at a time come back in order, each once, then no cursor."""
    ids = [str(waiting_refund(engineer)[1].id) for _ in range(5)]
    client = api(reviewer)
    seen: list[str] = []
    cursor = None
    for _ in range(4):
        page = client.get("/api/approvals", status="pending", limit=2, **({"cursor": cursor} if cursor else {})).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids and cursor is None


def test_only_the_callers_queues(engineer: Any, api: Any) -> None:
    """A reviewer whose groups do not review `payments` sees none of its requests."""
    legal = make_user("legal-reviewer", "reviewers")
    Queue.objects.get(name="payments").reviewer_groups.clear()
    waiting_refund(engineer)
    assert api(legal).get("/api/approvals", status="pending").json()["items"] == []
