"""`manage.py seed_approvals`: realistic approval volume, fast, for measuring lists and stats.

Each request looks like one the refund agent's gate opens (action, summary, arguments and their
JSON schema), on its own run of the `refund` agent: pending ones on `waiting` runs, decided ones
on `succeeded` runs with the Decision row of one of a few seeded reviewers. Rows are written with
bulk_create in batches of 1,000, in one transaction; nothing is sent to a worker or a browser and
no audit event is written (seeded data was never decided through the service).

Run by hand, e.g. `manage.py seed_approvals --pending 10000 --decided 2000`; running it again adds
more (order ids are unique per invocation).
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from pydantic import BaseModel

from agents.demo.refund import issue_refund
from agents.engine.models import Agent, Run
from agents.engine.registry import sync_agents
from approvals.gate import args_hash
from approvals.models import ApprovalRequest, Decision, Queue
from console.kernel.arguments import non_negative
from console.kernel.roles import ENGINEERS, REVIEWERS

BATCH = 1000
REQUESTER = "seed-engineer"
REVIEWERS_SEEDED = ("seed-reviewer-1", "seed-reviewer-2", "seed-reviewer-3")
REASONS = ("a customer asked for a refund", "damaged on arrival", "wrong size", "late delivery", "duplicate charge")
# Of the decided requests, about this share is rejected (the rest approved).
REJECT_SHARE = 0.2


class Command(BaseCommand):
    help = (
        "Create pending and decided approval requests (with runs of the refund agent, and decisions by "
        "seeded reviewers) in bulk, to measure the approvals API and queue statistics at volume."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--pending", type=non_negative, default=10_000, help="pending requests (runs waiting)")
        parser.add_argument("--decided", type=non_negative, default=0, help="decided requests, with Decision rows")
        parser.add_argument("--queue", default="payments", help="queue to fill (created if missing)")
        parser.add_argument("--days", type=non_negative, default=30, help="spread creation times over this many days")
        parser.add_argument("--seed", type=int, default=None, help="random seed, for the same data twice")

    def handle(self, *args: Any, **options: Any) -> None:
        pending, decided, days = options["pending"], options["decided"], max(options["days"], 1)
        rng = random.Random(options["seed"])
        sync_agents()
        agent = Agent.objects.filter(key="refund").first()
        if agent is None:
            raise CommandError("the refund agent is not registered (is agents.demo.refund in STEWARD_AGENT_MODULES?)")

        schema_model = issue_refund.args_schema
        # gated_tool gives the tool the pydantic model of the function's arguments.
        assert isinstance(schema_model, type) and issubclass(schema_model, BaseModel)
        args_schema = schema_model.model_json_schema()
        now = timezone.now()
        # Unique per invocation, so seeding twice adds rather than collides.
        tag = uuid.uuid4().hex[:6]
        with transaction.atomic():
            queue = self._queue(options["queue"])
            requester, reviewers = self._users()
            made = _Builder(rng, agent, queue, requester, reviewers, args_schema, now, days, tag)
            for start in range(0, pending, BATCH):
                made.write(min(BATCH, pending - start), decided=False)
            for start in range(0, decided, BATCH):
                made.write(min(BATCH, decided - start), decided=True)
        self.stdout.write(
            f"queue {queue.name!r}: created {made.runs} runs, {pending} pending requests "
            f"({made.overdue} overdue), {decided} decided requests ({made.approved} approved, "
            f"{made.rejected} rejected) and {made.decisions} decisions by {', '.join(REVIEWERS_SEEDED)}; "
            f"requested by {REQUESTER}; order ids SEED-{tag}-*"
        )

    def _queue(self, name: str) -> Queue:
        queue, created = Queue.objects.get_or_create(name=name, defaults={"description": "Seeded by seed_approvals."})
        if created:
            # Like a queue an agent names that nobody created: the reviewers group reviews it.
            queue.reviewer_groups.add(Group.objects.get_or_create(name=REVIEWERS)[0])
        return queue

    def _users(self) -> tuple[Any, list[Any]]:
        User = get_user_model()
        engineers = Group.objects.get_or_create(name=ENGINEERS)[0]
        reviewers_group = Group.objects.get_or_create(name=REVIEWERS)[0]
        requester, _ = User.objects.get_or_create(username=REQUESTER)
        requester.groups.add(engineers)
        reviewers = []
        for username in REVIEWERS_SEEDED:
            user, created = User.objects.get_or_create(username=username)
            if created:
                # No password: seeded reviewers exist to own decisions, not to log in.
                user.set_unusable_password()
                user.save(update_fields=["password"])
            user.groups.add(reviewers_group)
            reviewers.append(user)
        return requester, reviewers


class _Builder:
    """Writes one batch at a time: runs first, then their requests, then decisions."""

    def __init__(
        self,
        rng: random.Random,
        agent: Agent,
        queue: Queue,
        requester: Any,
        reviewers: list[Any],
        args_schema: dict[str, Any],
        now: datetime,
        days: int,
        tag: str,
    ) -> None:
        self.rng, self.agent, self.queue, self.requester = rng, agent, queue, requester
        self.reviewers, self.args_schema, self.now, self.days, self.tag = reviewers, args_schema, now, days, tag
        reason_codes = [c for c in (queue.reason_codes or []) if c] or ["other"]
        self.reason_codes = reason_codes
        self.sequence = 0
        self.runs = self.overdue = self.approved = self.rejected = self.decisions = 0

    def write(self, size: int, decided: bool) -> None:
        runs: list[Run] = []
        requests: list[ApprovalRequest] = []
        decisions: list[Decision] = []
        for _ in range(size):
            self.sequence += 1
            order_id = f"SEED-{self.tag}-{self.sequence:06d}"
            amount = round(self.rng.uniform(100.01, 2500), 2)
            created = self._created_at(decided)
            run = Run(
                id=uuid.uuid4(),
                agent=self.agent,
                thread_id="",
                status=Run.Status.SUCCEEDED if decided else Run.Status.WAITING,
                input={"order_id": order_id, "amount": amount, "reason": self.rng.choice(REASONS)},
                metadata={"seeded": True},
                created_by=self.requester,
                graph_fingerprint=self.agent.fingerprint,
                created_at=created,
                enqueued_at=created,
                started_at=created,
                attempts=1,
                steps=3,
            )
            run.thread_id = str(run.id)
            args = {"order_id": order_id, "amount": amount}
            request = ApprovalRequest(
                id=uuid.uuid4(),
                queue=self.queue,
                run=run,
                agent=self.agent,
                interrupt_id=uuid.uuid4().hex,
                requested_by=self.requester,
                action="issue_refund",
                summary=f"Refund {amount} on order {order_id}",
                proposed_args=args,
                args_schema=self.args_schema,
                tool_call_id="call_refund",
                condition="amount > 100",
                created_at=created,
                # bulk_create skips save(), which is what normally sets due_at from the SLA.
                due_at=created + timedelta(minutes=self.queue.sla_minutes),
            )
            if decided:
                decisions.append(self._decide(run, request, args))
            elif request.due_at and request.due_at < self.now:
                self.overdue += 1
            runs.append(run)
            requests.append(request)
        Run.objects.bulk_create(runs, batch_size=BATCH)
        ApprovalRequest.objects.bulk_create(requests, batch_size=BATCH)
        Decision.objects.bulk_create(decisions, batch_size=BATCH)
        self.runs += len(runs)
        self.decisions += len(decisions)

    def _created_at(self, decided: bool) -> datetime:
        # Pending requests are mostly recent (a backlog with a tail past its SLA); decided ones
        # are spread over the whole window, and decided at least a little before now.
        if decided:
            age = timedelta(seconds=self.rng.uniform(3600, self.days * 86400))
        else:
            age = timedelta(seconds=self.rng.expovariate(1 / (self.queue.sla_minutes * 60 * 0.6)))
        return self.now - age

    def _decide(self, run: Run, request: ApprovalRequest, args: dict[str, Any]) -> Decision:
        reviewer = self.rng.choice(self.reviewers)
        # Most decisions come within minutes, a long tail within hours.
        wait = timedelta(seconds=min(self.rng.lognormvariate(6.5, 1.2), 3000))
        decided_at = request.created_at + wait
        reject = self.rng.random() < REJECT_SHARE
        comment = "not covered by the refund policy" if reject else ""
        reason_code = self.rng.choice(self.reason_codes) if reject else ""
        request.status = ApprovalRequest.Status.REJECTED if reject else ApprovalRequest.Status.APPROVED
        request.approvals = 0 if reject else 1
        request.approved_args = None if reject else args
        request.approved_args_hash = "" if reject else args_hash(args)
        request.decided_by = reviewer
        request.decided_at = decided_at
        request.resume_value = {
            "decision": "reject" if reject else "approve",
            "args": args,
            "comment": comment,
            "reason_code": reason_code,
            "approval_id": str(request.id),
            "decided_by": reviewer.get_username(),
        }
        run.output = {"answer": "Refund declined." if reject else "Refund issued."}
        run.finished_at = decided_at + timedelta(seconds=1)
        if reject:
            self.rejected += 1
        else:
            self.approved += 1
        return Decision(
            request=request,
            user=reviewer,
            decision=Decision.Kind.REJECT if reject else Decision.Kind.APPROVE,
            proposed_args=args,
            approved_args=None if reject else args,
            comment=comment,
            reason_code=reason_code,
            created_at=decided_at,
        )
