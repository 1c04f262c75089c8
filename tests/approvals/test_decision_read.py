"""The decision's hand-written read (approvals/decision_read.py, Postgres) says what the ORM's
says (`_locked` with its decider's facts, which SQLite still uses), and the decision POST's
answer, built from what deciding read and wrote, is the request as read back afterwards."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone

from approvals import decision_read, services
from approvals.models import ApprovalRequest, Decision, Queue
from tests.support.runs import waiting_question, waiting_refund
from tests.support.users import make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def _values(instance: Any) -> list[Any]:
    return [getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields]


def _assert_reads_agree(request_id: Any, user: User) -> dict[str, Any]:
    with transaction.atomic():
        by_orm = services._locked(request_id, decider=user)
        orm_facts = asdict(services._DeciderFacts.of(by_orm))
    with transaction.atomic():
        found = decision_read.locked_for_decision(request_id, user.pk)
    assert found is not None
    by_sql, sql_facts = found
    assert sql_facts == orm_facts, user.username
    assert _values(by_sql) == _values(by_orm)
    assert _values(by_sql.queue) == _values(by_orm.queue)
    if by_orm.requested_by_id is None:
        assert by_sql.requested_by is None
    else:
        assert _values(by_sql.requested_by) == _values(by_orm.requested_by)
    return sql_facts


def test_the_two_reads_agree_for_every_kind_of_decider(engineer: User, reviewer: User, admin_user: User) -> None:
    """A quorum with a current approval, a current edit and a superseded edit; read for a voter,
    an editor, a reviewer who has not voted, an excluded reviewer, the requester, an outsider
    and an admin."""
    payments = Queue.objects.get(name="payments")
    payments.required_approvals = 3
    payments.save()
    auditors = Group.objects.create(name="auditors")
    payments.excluded_groups.add(auditors)
    approver, editor = make_user("approver", "reviewers"), make_user("editor", "reviewers")
    excluded, outsider = make_user("excluded", "reviewers", "auditors"), make_user("nobody")
    _, request = waiting_refund(engineer)
    Decision.objects.create(request=request, user=approver, decision="approve")
    Decision.objects.create(request=request, user=editor, decision="edit", args={"amount": 1})
    Decision.objects.create(request=request, user=reviewer, decision="edit", superseded_at=timezone.now())
    facts = {
        user.username: _assert_reads_agree(request.id, user)
        for user in (approver, editor, reviewer, excluded, engineer, outsider, admin_user)
    }
    assert facts["approver"] == {
        "reviews": True, "excluded": False, "voted": True, "votes_before": 2, "edited_before": True, "decided_before": True,
    }
    assert facts["reviewer"]["voted"] is False  # their vote was superseded
    assert facts["excluded"]["excluded"] is True
    assert facts["nobody"]["reviews"] is False


def test_the_two_reads_agree_on_a_fresh_request_and_one_without_a_run(engineer: User, reviewer: User) -> None:
    _, request = waiting_refund(engineer)
    assert _assert_reads_agree(request.id, reviewer)["decided_before"] is False
    runless = ApprovalRequest.objects.create(
        queue=Queue.objects.get(name="payments"), requested_by=None, action="promote", proposed_args={"label": "prod"}
    )
    assert _assert_reads_agree(runless.id, reviewer)["votes_before"] == 0


def test_no_request_is_none(reviewer: User) -> None:
    import uuid

    with transaction.atomic():
        assert decision_read.locked_for_decision(uuid.uuid4(), reviewer.pk) is None


def _posted_and_read_back(api: Any, user: User, reader: User, request_id: Any, body: dict[str, Any]) -> tuple[Any, Any]:
    posted = api(user).post(f"/api/approvals/{request_id}/decision", body)
    assert posted.status_code == 200, posted.content
    read = api(reader).get(f"/api/approvals/{request_id}")
    assert read.status_code == 200, read.content
    return posted.json(), read.json()


@pytest.mark.parametrize(
    "body",
    [
        {"decision": "approve", "comment": "fine"},
        {"decision": "reject", "comment": "no", "reason_code": "policy"},
        {"decision": "respond", "comment": "use the other card"},
        {"decision": "edit", "args": {"amount": 120.0}, "comment": "less"},
    ],
    ids=lambda body: body["decision"],
)
def test_the_answer_is_the_request_read_back(api: Any, engineer: User, reviewer: User, admin_user: User, body: dict[str, Any]) -> None:
    _, request = waiting_refund(engineer)
    if body["decision"] == "edit":
        body = {**body, "args": {**request.proposed_args, **body["args"]}}
    posted, read = _posted_and_read_back(api, reviewer, admin_user, request.id, body)
    assert posted == read
    assert [d["user"] for d in posted["decisions"]] == ["reviewer"] and posted["requested_by"] == "engineer"


def test_the_answer_of_each_quorum_vote_is_the_request_read_back(
    api: Any, engineer: User, reviewer: User, admin_user: User
) -> None:
    """The first vote knows the request's only decision; the second reads the first."""
    Queue.objects.filter(name="payments").update(required_approvals=2)
    second = make_user("second", "reviewers")
    _, request = waiting_refund(engineer)
    first_posted, first_read = _posted_and_read_back(api, reviewer, admin_user, request.id, {"decision": "approve"})
    assert first_posted == first_read and first_posted["status"] == "pending"
    second_posted, second_read = _posted_and_read_back(api, second, admin_user, request.id, {"decision": "approve"})
    assert second_posted == second_read and second_posted["status"] == "approved"
    assert [d["user"] for d in second_posted["decisions"]] == ["reviewer", "second"]


def test_the_answer_to_a_question_is_the_request_read_back(api: Any, engineer: User, admin_user: User) -> None:
    """Its requester answers a free-form question (another shape, another path through `decide`)."""
    request = waiting_question(engineer)
    posted, read = _posted_and_read_back(api, engineer, admin_user, request.id, {"decision": "answer", "value": "A-17"})
    assert posted == read and posted["status"] == "responded"
