"""Claims: a reviewer holds a request for a while; `next` hands out each request once."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from django.db import connections

from approvals.models import ApprovalRequest
from approvals.services import claim, decide, next_request, release
from console.kernel.errors import Conflict, Forbidden
from tests.support.runs import waiting_refund
from tests.support.users import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_claim_holds_the_request_against_others_including_admins(
    engineer: Any, reviewer: Any, admin_user: Any, api: Any
) -> None:
    """A claim blocks others' claims and decisions (409 naming the holder and until when), an
    admin's too; the holder decides without trouble."""
    _, request = waiting_refund(engineer)
    held = claim(request.id, reviewer)
    assert held.claimed_by == reviewer and held.claimed_until is not None
    other = make_user("other", "reviewers")
    for user in (other, admin_user):
        with pytest.raises(Conflict, match=re.escape(f"reviewer holds this request until {held.claimed_until.isoformat()}")):
            claim(request.id, user)
        with pytest.raises(Conflict, match="reviewer holds this request"):
            decide(request.id, user, "approve")
    response = api(other).post(f"/api/approvals/{request.id}/claim")
    assert response.status_code == 409 and "reviewer holds this request" in response.json()["detail"]
    assert decide(request.id, reviewer, "approve").status == "approved"


def test_release_own_claim_or_any_as_admin(engineer: Any, reviewer: Any, admin_user: Any) -> None:
    """Only the holder or an admin releases a claim; then anyone may claim it."""
    _, request = waiting_refund(engineer)
    claim(request.id, reviewer)
    other = make_user("other", "reviewers")
    with pytest.raises(Forbidden):
        release(request.id, other)
    release(request.id, admin_user)
    assert claim(request.id, other).claimed_by == other
    release(request.id, other)
    with pytest.raises(Conflict, match="not claimed"):
        release(request.id, other)


def test_next_claims_the_request_due_first_and_skips_held_and_own(roles: None) -> None:
    """`next` gives the request due first that nobody holds, never one the caller requested."""
    engineer = make_user("eng", "engineers")
    both = make_user("both", "engineers", "reviewers")
    reviewer = make_user("rev", "reviewers")
    _, own = waiting_refund(both)
    _, first = waiting_refund(engineer)
    _, second = waiting_refund(engineer)
    taken = next_request(both)
    assert taken is not None and taken.id == first.id and taken.claimed_by == both
    assert next_request(reviewer).id == own.id  # the oldest that `reviewer` may decide
    assert next_request(reviewer).id == second.id
    assert next_request(reviewer) is None


def test_next_api_returns_404_when_nothing_waits(reviewer: Any, api: Any) -> None:
    """POST /api/approvals/next answers 404 with a clear message when nothing waits."""
    response = api(reviewer).post("/api/approvals/next")
    assert response.status_code == 404 and "no unclaimed request" in response.json()["detail"]


@pytest.mark.postgres
def test_eight_reviewers_taking_next_at_once_never_get_the_same_request(engineer: Any) -> None:
    """SKIP LOCKED: eight concurrent `next` calls hand out eight different requests."""
    reviewers = [make_user(f"r{i}", "reviewers") for i in range(8)]
    for _ in range(10):
        waiting_refund(engineer)
    barrier = threading.Barrier(8)
    taken: list[Any] = []
    lock = threading.Lock()

    def take(user: Any) -> None:
        barrier.wait()
        try:
            request = next_request(user)
        finally:
            connections.close_all()
        with lock:
            taken.append(request.id if request else None)

    threads = [threading.Thread(target=take, args=(u,)) for u in reviewers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert None not in taken and len(set(taken)) == 8
    holders = dict(ApprovalRequest.objects.filter(id__in=taken).values_list("id", "claimed_by__username"))
    assert sorted(holders.values()) == sorted(u.username for u in reviewers)


@pytest.mark.postgres
def test_eight_concurrent_claims_of_one_request_one_wins(engineer: Any) -> None:
    """Eight reviewers claim the same request at once: one holds it, seven get 409."""
    reviewers = [make_user(f"c{i}", "reviewers") for i in range(8)]
    _, request = waiting_refund(engineer)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []
    lock = threading.Lock()

    def grab(user: Any) -> None:
        barrier.wait()
        try:
            claim(request.id, user)
            result = "won"
        except Conflict:
            result = "409"
        finally:
            connections.close_all()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=grab, args=(u,)) for u in reviewers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["409"] * 7 + ["won"]
