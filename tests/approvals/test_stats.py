"""Queue statistics against data with known numbers, and the queues API (list, stats, access, queries)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals import stats
from approvals.models import ApprovalRequest, Decision, Queue
from approvals.stats import percentile, queue_stats
from tests.support.users import make_user

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 31, 12, 0, tzinfo=UTC)
# Ten approved/rejected requests decided 1, 2, ..., 10 minutes after they arrived.
WAITS = [60 * i for i in range(1, 11)]
# percentile_cont over WAITS: positions 4.5 and 8.55 of the sorted list.
MEDIAN, P95 = 330.0, 573.0


def _request(queue: Queue, created: datetime, **fields: Any) -> ApprovalRequest:
    return ApprovalRequest.objects.create(
        queue=queue, action="issue_refund", proposed_args={"order_id": "A-1", "amount": 200}, created_at=created, **fields
    )


def _seed_known(queue: Queue) -> dict[str, User]:
    """Pending, decided, responded, expired and cancelled requests with known times and votes.

    Known numbers (window: the last 30 days before NOW):
        pending 4, of which overdue 2; approved 7, rejected 3, responded 1, expired 1, cancelled 1;
        rejection reasons: policy 2, suspicious 1, timeout 1 (a rule's); decisions: ann 6, bob 4,
        cy 1 (the rule's has no user, so no reviewer).
        One old approval (40 days ago) lies outside the window everywhere.
    """
    ann, bob, cy = (make_user(name, "reviewers") for name in ("ann", "bob", "cy"))
    # Pending: two past their SLA, two not.
    for hours_ago, due_in in ((50, -2), (30, -1), (2, 20), (1, 23)):
        _request(queue, NOW - timedelta(hours=hours_ago), due_at=NOW + timedelta(hours=due_in))
    # Seven approvals (ann 4, bob 3) and three rejections (ann 2, bob 1), one per day.
    votes = [("approve", ann, "")] * 4 + [("approve", bob, "")] * 3
    votes += [("reject", ann, "policy"), ("reject", ann, "suspicious"), ("reject", bob, "policy")]
    for day, ((kind, user, reason), wait) in enumerate(zip(votes, WAITS, strict=True)):
        created = NOW - timedelta(days=day + 1)
        status = ApprovalRequest.Status.APPROVED if kind == "approve" else ApprovalRequest.Status.REJECTED
        request = _request(queue, created, status=status, decided_by=user, decided_at=created + timedelta(seconds=wait))
        Decision.objects.create(request=request, user=user, decision=kind, reason_code=reason, created_at=request.decided_at)
    # A reply instead of a decision (cy), a timeout (a rule, no user), a cancellation (no decided_at).
    created = NOW - timedelta(days=2)
    responded = _request(queue, created, status="responded", decided_by=cy, decided_at=created + timedelta(seconds=90))
    Decision.objects.create(request=responded, user=cy, decision="respond", created_at=responded.decided_at)
    expired = _request(queue, created, status="expired", decided_at=created + timedelta(seconds=600))
    Decision.objects.create(
        request=expired, decision="reject", automatic_rule="timeout", reason_code="timeout", created_at=expired.decided_at
    )
    _request(queue, NOW - timedelta(days=3), status="cancelled")
    # Outside the 30-day window: counted nowhere but in nothing.
    old = _request(queue, NOW - timedelta(days=40), status="approved", decided_by=ann, decided_at=NOW - timedelta(days=40))
    Decision.objects.create(request=old, user=ann, decision="approve", created_at=old.decided_at)
    return {"ann": ann, "bob": bob, "cy": cy}


@pytest.fixture
def payments(roles: None) -> Queue:
    return Queue.objects.get(name="payments")


def test_percentile_interpolates_like_percentile_cont() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([float(w) for w in WAITS], 0.5) == pytest.approx(MEDIAN)
    assert percentile([float(w) for w in WAITS], 0.95) == pytest.approx(P95)


@pytest.mark.parametrize("in_database", [True, False], ids=["database-percentiles", "python-percentiles"])
def test_queue_stats_known_numbers(payments: Queue, monkeypatch: pytest.MonkeyPatch, in_database: bool) -> None:
    """Both percentile paths (Postgres percentile_cont, Python over values_list) give the same numbers."""
    if in_database and connection.vendor != "postgresql":
        pytest.skip("percentile_cont needs PostgreSQL")
    monkeypatch.setattr(stats, "_uses_database_percentiles", lambda queryset: in_database)
    _seed_known(payments)
    # Another queue's requests never leak into this one's numbers.
    _request(Queue.objects.get(name="default"), NOW - timedelta(hours=1))

    result = queue_stats(payments, days=30, now=NOW)

    assert result["queue"] == "payments" and result["days"] == 30
    assert result["pending"] == 4
    assert result["overdue"] == 2
    assert result["outcomes"] == {"approved": 7, "rejected": 3, "responded": 1, "expired": 1, "cancelled": 1}
    assert result["decided"] == 13
    assert result["approval_rate"] == pytest.approx(0.7)
    assert result["rejection_rate"] == pytest.approx(0.3)
    # Over the 12 timed requests: the 10 verdicts, plus the reply (90 s) and the timeout (600 s).
    timed = sorted([*WAITS, 90, 600])
    assert result["median_decision_seconds"] == pytest.approx(percentile(timed, 0.5), abs=30)
    assert result["p95_decision_seconds"] == pytest.approx(percentile(timed, 0.95), abs=60)
    assert result["rejection_reasons"] == {"policy": 2, "suspicious": 1, "timeout": 1}
    assert result["decisions_per_reviewer"] == {"ann": 6, "bob": 4, "cy": 1}

    days = result["requests_per_day"]
    assert len(days) == 30
    assert days[0]["date"] == (NOW - timedelta(days=29)).date() and days[-1]["date"] == NOW.date()
    by_date = {d["date"]: d["count"] for d in days}
    assert by_date[NOW.date()] == 2  # the pending ones from 1 and 2 hours ago
    assert by_date[(NOW - timedelta(days=1)).date()] == 2  # pending from 30 hours ago, one verdict
    assert by_date[(NOW - timedelta(days=2)).date()] == 4  # pending from 50 hours ago, verdict, reply, timeout
    assert sum(by_date.values()) == 4 + 10 + 2 + 1


def test_queue_stats_median_and_p95_of_verdicts_only(payments: Queue) -> None:
    """Ten decisions 1..10 minutes after arrival: median 330 s, p95 573 s (percentile_cont)."""
    for day, wait in enumerate(WAITS):
        created = NOW - timedelta(days=day + 1)
        _request(payments, created, status="approved", decided_at=created + timedelta(seconds=wait))
    result = queue_stats(payments, days=30, now=NOW)
    assert result["median_decision_seconds"] == pytest.approx(MEDIAN, abs=1)
    assert result["p95_decision_seconds"] == pytest.approx(P95, abs=30)
    assert result["approval_rate"] == 1.0 and result["rejection_rate"] == 0.0


def test_queue_stats_of_an_empty_queue(payments: Queue) -> None:
    result = queue_stats(payments, days=7)
    assert result["pending"] == result["overdue"] == result["decided"] == 0
    assert result["approval_rate"] is None and result["median_decision_seconds"] is None
    assert [d["count"] for d in result["requests_per_day"]] == [0] * 7
    assert result["requests_per_day"][-1]["date"] == timezone.localdate()


# --- the queues API ---------------------------------------------------------------------------


@pytest.fixture
def secret_queue(roles: None) -> Queue:
    """A queue only the finance group reviews."""
    queue = Queue.objects.create(name="secret", description="Finance only", sla_minutes=60, reason_codes=["fraud"])
    queue.reviewer_groups.add(Group.objects.create(name="finance"))
    return queue


def test_list_queues_shows_only_the_callers_queues_with_pending_counts(
    api: Any, reviewer: User, admin_user: User, secret_queue: Queue, payments: Queue
) -> None:
    escalation = Queue.objects.get(name="default")
    payments.escalation_queue = escalation
    payments.save()
    # In two of the queue's groups: it must still be listed once.
    extra = Group.objects.create(name="payments-leads")
    payments.reviewer_groups.add(extra)
    reviewer.groups.add(extra)
    for _ in range(3):
        _request(payments, timezone.now())
    _request(payments, timezone.now(), status="approved", decided_at=timezone.now())
    _request(secret_queue, timezone.now())

    response = api(reviewer).get("/api/queues")
    assert response.status_code == 200, response.content
    queues = {q["name"]: q for q in response.json()}
    # Every installation's queues (approvals/defaults.py) the reviewers group reviews; not "secret".
    assert list(queues) == ["budget", "default", "payments"]
    assert queues["payments"]["pending"] == 3 and queues["default"]["pending"] == 0
    assert queues["payments"]["escalation_queue"] == "default"
    assert queues["payments"]["reviewer_groups"] == ["payments-leads", "reviewers"]
    assert set(queues["payments"]) == {
        "name", "description", "required_approvals", "sla_minutes", "claim_minutes", "reason_codes",
        "timeout_action", "escalation_queue", "requester_may_answer", "reviewer_groups", "pending",
    }
    assert queues["payments"]["requester_may_answer"] == "default"

    everything = {q["name"]: q for q in api(admin_user).get("/api/queues").json()}
    assert list(everything) == ["budget", "default", "payments", "secret"]
    assert everything["secret"]["pending"] == 1 and everything["secret"]["reason_codes"] == ["fraud"]


def test_list_queues_uses_a_constant_number_of_queries(api: Any, admin_user: User) -> None:
    client = api(admin_user)
    client.get("/api/queues")  # the key's last_used_at is written on first use only
    with CaptureQueriesContext(connection) as few:
        assert client.get("/api/queues").status_code == 200
    for i in range(10):
        queue = Queue.objects.create(name=f"q{i}", escalation_queue=Queue.objects.get(name="default"))
        queue.reviewer_groups.add(Group.objects.get(name="reviewers"))
        _request(queue, timezone.now())
    with CaptureQueriesContext(connection) as many:
        assert len(client.get("/api/queues").json()) == 13  # budget, default, payments and ten more
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


def test_engineer_may_not_list_queues_or_read_stats(api: Any, engineer: User) -> None:
    assert api(engineer).get("/api/queues").status_code == 403
    response = api(engineer).get("/api/queues/payments/stats")
    assert response.status_code == 403
    assert "review approvals" in response.json()["detail"]


def test_queue_stats_endpoint_404_403_200(api: Any, reviewer: User, secret_queue: Queue, payments: Queue) -> None:
    client = api(reviewer)
    missing = client.get("/api/queues/nope/stats")
    assert missing.status_code == 404 and missing.json() == {"detail": "queue not found"}
    forbidden = client.get("/api/queues/secret/stats")
    assert forbidden.status_code == 403 and "secret" in forbidden.json()["detail"]

    _request(payments, timezone.now() - timedelta(hours=1))
    response = client.get("/api/queues/payments/stats", days=7)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["pending"] == 1 and body["days"] == 7 and len(body["requests_per_day"]) == 7
    assert body["outcomes"] == {"approved": 0, "rejected": 0, "responded": 0, "expired": 0, "cancelled": 0}
    assert body["approval_rate"] is None

    assert client.get("/api/queues/payments/stats", days=0).status_code == 422


def _add_requests(queue: Queue, users: list[User], count: int) -> None:
    """`count` requests of every kind, with decisions by several reviewers."""
    now = timezone.now()
    for i in range(count):
        created = now - timedelta(hours=i + 1)
        kind = i % 4
        if kind == 0:
            _request(queue, created)
            continue
        status = {1: "approved", 2: "rejected", 3: "cancelled"}[kind]
        decided = None if status == "cancelled" else created + timedelta(minutes=i)
        request = _request(queue, created, status=status, decided_at=decided)
        if decided:
            user = users[i % len(users)]
            Decision.objects.create(
                request=request, user=user, decision="approve" if kind == 1 else "reject", reason_code="policy", created_at=decided
            )


def test_stats_endpoint_uses_a_constant_number_of_queries(api: Any, admin_user: User, payments: Queue) -> None:
    """5 requests or 50, across several reviewers and outcomes: the same number of queries."""
    users = [make_user(f"r{i}", "reviewers") for i in range(5)]
    client = api(admin_user)
    client.get("/api/queues/payments/stats")  # the key's last_used_at is written on first use only

    _add_requests(payments, users, 5)
    with CaptureQueriesContext(connection) as few:
        assert client.get("/api/queues/payments/stats").json()["decided"] > 0
    _add_requests(payments, users, 45)
    with CaptureQueriesContext(connection) as many:
        body = client.get("/api/queues/payments/stats").json()
    assert body["decided"] + body["pending"] == 50
    assert len(few) == len(many), [q["sql"] for q in many.captured_queries]
    # Authentication, the queue, then the stats themselves: a handful, whatever the volume.
    assert len(many) <= 10, [q["sql"] for q in many.captured_queries]
