"""The read a decision starts with, on Postgres: the request's run locked, then the request
locked and read with its queue, its requester and what deciding it needs to know about the
decider, in two hand-written statements.

`decide` (approvals/services.py) is the hot path of every reviewer's click and of the API's
decision POST: the ORM took several times longer to build these statements (their subqueries,
the joined models) than Postgres took to answer them. The statements say what `_locked` and
`_decider_facts` say in the ORM (which SQLite, the embedded database, still uses); a test holds
the two to the same answers (tests/approvals/test_decision_read.py).
"""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection

from agents.engine.models import Run
from approvals.models import ApprovalRequest, Decision, Queue
from console.kernel.raw_rows import columns, instance_from_row

__all__ = ["FACTS", "locked_for_decision"]

# What the request's read says about the decider and the votes so far, in its columns' order
# (approvals/services.py `_DeciderFacts`).
FACTS = ("reviews", "excluded", "voted", "votes_before", "edited_before", "decided_before")


@cache
def _statements() -> tuple[str, str, str]:
    """(lock the request's run, lock the request alone, read the locked request): every table
    and column name from the models (a custom user model names its own)."""
    User = get_user_model()
    requests, decisions = ApprovalRequest._meta.db_table, Decision._meta.db_table
    memberships: Any = User._meta.get_field("groups")

    def in_groups_of(field_name: str) -> str:
        # Whether the decider is in one of the queue's groups named by `field_name`.
        groups: Any = Queue._meta.get_field(field_name)
        return (
            f"EXISTS (SELECT 1 FROM {groups.m2m_db_table()} qg JOIN {memberships.m2m_db_table()} m "
            f"ON m.{memberships.m2m_reverse_name()} = qg.{groups.m2m_reverse_name()} "
            f"WHERE qg.{groups.m2m_column_name()} = r.queue_id AND m.{memberships.m2m_column_name()} = %s)"
        )

    # Votes set aside when the agent refused the answer they led to no longer count.
    current = f"FROM {decisions} d WHERE d.request_id = r.id AND d.superseded_at IS NULL"
    votes_for = ", ".join(f"'{kind.value}'" for kind in (Decision.Kind.APPROVE, Decision.Kind.EDIT))
    facts = [
        in_groups_of("reviewer_groups"),
        in_groups_of("excluded_groups"),
        f"EXISTS (SELECT 1 {current} AND d.user_id = %s)",
        f"(SELECT count(*) {current} AND d.user_id IS NOT NULL AND d.decision IN ({votes_for}))",
        f"EXISTS (SELECT 1 {current} AND d.decision = '{Decision.Kind.EDIT.value}')",
        # Superseded ones too: with none at all, the decision about to be made is the only one.
        f"EXISTS (SELECT 1 FROM {decisions} d WHERE d.request_id = r.id)",
    ]
    lock_run = (
        f"SELECT run.id FROM {Run._meta.db_table} run "
        f"WHERE run.id = (SELECT r.run_id FROM {requests} r WHERE r.id = %s) FOR NO KEY UPDATE OF run"
    )
    lock_request = f"SELECT r.id FROM {requests} r WHERE r.id = %s FOR UPDATE OF r"
    # The requester is joined: it never changes, so the row Postgres joined before a wait on the
    # request's lock is still the one (unlike who decided or holds the request).
    read = (
        f"SELECT {columns(ApprovalRequest, 'r')}, {columns(Queue, 'q')}, {columns(User, 'u')}, {', '.join(facts)} "
        f"FROM {requests} r JOIN {Queue._meta.db_table} q ON q.id = r.queue_id "
        f"LEFT JOIN {User._meta.db_table} u ON u.{User._meta.pk.column} = r.requested_by_id "
        f"WHERE r.id = %s FOR UPDATE OF r"
    )
    return lock_run, lock_request, read


def locked_for_decision(request_id: uuid.UUID, decider_id: Any) -> tuple[ApprovalRequest, dict[str, Any]] | None:
    """The request locked as `_locked` locks it (its run first, then itself, each by a statement
    of its own), with its queue and requester, and the facts about `decider_id` by `FACTS`'s
    names; None when there is no such request. Call inside a transaction."""
    lock_run, lock_request, read = _statements()
    with connection.cursor() as cursor:
        cursor.execute(lock_run, [request_id])
        if cursor.fetchone() is None:
            # No run (or no request): lock the request alone, before reading anything about it.
            cursor.execute(lock_request, [request_id])
            if cursor.fetchone() is None:
                return None
        # After the locks are held: this statement's snapshot sees every decision committed before.
        cursor.execute(read, [decider_id, decider_id, decider_id, request_id])
        row = cursor.fetchone()
    if row is None:
        return None
    User = get_user_model()
    split_queue = len(ApprovalRequest._meta.concrete_fields)
    split_user = split_queue + len(Queue._meta.concrete_fields)
    split_facts = split_user + len(User._meta.concrete_fields)
    request = instance_from_row(ApprovalRequest, row[:split_queue])
    request.queue = instance_from_row(Queue, row[split_queue:split_user])
    if request.requested_by_id is not None:
        request.requested_by = instance_from_row(User, row[split_user:split_facts])
    return request, dict(zip(FACTS, row[split_facts:], strict=True))
