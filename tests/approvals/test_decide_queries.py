"""The decision POST stays a handful of queries (issue 18): the request read with what it
needs, the vote, one update, one audit insert, the run requeued; no query per reviewer group."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents.engine.models import Run
from approvals.models import Queue
from console.kernel import audit
from tests.support.runs import waiting_refund
from tests.support.users import make_user

pytestmark = pytest.mark.django_db(transaction=True)

# Over HTTP, 12 at most (26 before issue 18): the API key with its owner's groups (looked up once
# for the rate limit and authentication) and its last use once a minute; BEGIN, the run's lock,
# the request with its queue, its requester and the decider's facts (approvals/decision_read.py),
# the vote, the audit lock, its last hash and its row, the request's update, the run's requeue,
# COMMIT. The answer is built from what deciding read and wrote: nothing is read back.
MAX_QUERIES = 12


def _post_counting(api: Any, user: Any, request_id: Any, body: dict[str, Any]) -> tuple[Any, list[str]]:
    client = api(user)
    with CaptureQueriesContext(connection) as queries:
        response = client.post(f"/api/approvals/{request_id}/decision", body)
    return response, [q["sql"] for q in queries.captured_queries]


def test_approval_post_is_a_handful_of_queries(
    api: Any, engineer: Any, reviewer: Any, django_assert_max_num_queries: Any
) -> None:
    """An approval that settles the request and requeues the run, counted over HTTP."""
    run, request = waiting_refund(engineer)
    client = api(reviewer)
    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.post(f"/api/approvals/{request.id}/decision", {"decision": "approve", "comment": "ok"})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "approved"
    assert Run.objects.get(id=run.id).status == Run.Status.QUEUED
    assert not list(audit.verify())


def test_query_count_does_not_grow_with_groups(api: Any, engineer: Any, reviewer: Any) -> None:
    """The reviewer's and the queue's groups are checked in one query, however many there are."""
    payments = Queue.objects.get(name="payments")
    for i in range(6):
        group = Group.objects.create(name=f"extra-{i}")
        reviewer.groups.add(group)
        payments.reviewer_groups.add(Group.objects.create(name=f"reviewing-{i}"))
        payments.excluded_groups.add(Group.objects.create(name=f"excluded-{i}"))
    _, first = waiting_refund(engineer)
    _, few = _post_counting(api, make_user("plain", "reviewers"), first.id, {"decision": "reject", "comment": "no"})
    _, second = waiting_refund(engineer)
    response, many = _post_counting(api, reviewer, second.id, {"decision": "reject", "comment": "no"})
    assert response.status_code == 200, response.content
    assert len(many) == len(few)
    assert len(many) <= MAX_QUERIES
