"""Authorization matrix: every API operation and every page, called as every role.

The API's operations come from its OpenAPI document and the pages from the URL configuration,
so a new endpoint or page fails `test_every_*_has_expectations` until it is given a row here:
who may call it (see console/kernel/roles.py and docs/architecture.md) and how to call it with real objects.

Each cell calls the endpoint as one role (anonymous, an outsider with no group, a reviewer, an
engineer, an admin) with the ids of real objects (fresh ones where the call changes them) and
checks the answer: an allowed role succeeds (2xx; for a page 200 or a redirect that is not to
the login page); anyone else is refused (API: 401 anonymous, 403 without the role,
or 404 when the object is not theirs to see; pages: the login redirect, 403 or 404). Every
mismatch is reported at once; an unexpected success is the failure this test exists for.

The last tests check self-approval: whoever asked for an action (started the run, requested the
prompt promotion) cannot approve it, through the API or the page, while another reviewer can.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from agents.engine import runtime
from agents.engine.models import DeadLetter, Run
from agents.engine.services import start_run
from agents.prompt_admin.regression import replay_for_promotion
from agents.prompt_admin.services import create_prompt, move_label, save_version
from agents.prompt_admin.transfer import export_prompts
from approvals.models import ApprovalRequest, Queue, Webhook, WebhookDelivery
from approvals.services import claim
from console.kernel.models import ApiKey
from tests.support.users import make_user
from traces.inspection.export import export_run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]

ROLES = ("anonymous", "outsider", "reviewer", "engineer", "admin")
SIGNED_IN = frozenset({"outsider", "reviewer", "engineer", "admin"})
READERS = frozenset({"reviewer", "engineer", "admin"})  # can_read_runs; prompts are read by them too
STARTERS = frozenset({"engineer", "admin"})  # can_start_runs
REVIEWERS = frozenset({"reviewer", "admin"})  # has_role(REVIEWERS)
ADMINS = frozenset({"admin"})
PROMPT = "refund_system"  # the refund agent's prompt: its runs pin it
TEMPLATE = [{"role": "system", "content": "Answer {{ who }} kindly."}]


# --- Objects ----------------------------------------------------------------------------------


def order() -> str:
    return f"M-{uuid.uuid4().hex[:10]}"


class Things:
    """Real objects for the calls, made on first use. `fresh=True` (the caller may succeed, so
    the call changes the object) makes a new one; otherwise the shared one does."""

    def __init__(self) -> None:
        self.users = {
            "outsider": make_user("m-outsider"),
            "reviewer": make_user("m-reviewer", "reviewers"),
            "engineer": make_user("m-engineer", "engineers"),
            "admin": make_user("m-admin", "admins", is_staff=True, is_superuser=True),
        }
        # Starts the runs whose approvals get decided (nobody may approve their own), and
        # requests the prompt promotion.
        self.requester = make_user("m-requester", "engineers")
        self.admin2 = make_user("m-admin2", "admins")
        self.keys = {role: ApiKey.issue(user)[1] for role, user in self.users.items()}
        self._shared: dict[str, Any] = {}
        self.role = ""  # who is calling, for rules that depend on it

    def _once(self, name: str, make: Callable[[], Any], fresh: bool) -> Any:
        if fresh:
            return make()
        if name not in self._shared:
            self._shared[name] = make()
        return self._shared[name]

    # runs
    @cached_property
    def finished(self) -> Run:
        return self._executed(start_run("refund", {"order_id": order(), "amount": 20, "reason": "x"}, self.requester))

    @cached_property
    def other_finished(self) -> Run:
        return self._executed(start_run("refund", {"order_id": order(), "amount": 30, "reason": "y"}, self.requester))

    def _executed(self, run: Run) -> Run:
        runtime.execute(run.id)
        return Run.objects.select_related("agent").get(id=run.id)

    def queued(self, fresh: bool) -> Run:
        return self._once(
            "queued", lambda: start_run("refund", {"order_id": order(), "amount": 20, "reason": "x"}, self.requester), fresh
        )

    def failed(self, fresh: bool) -> Run:
        def make() -> Run:
            run = self._executed(start_run("known", {"topic": "explode"}, self.requester))
            assert run.status == Run.Status.FAILED
            return run

        return self._once("failed", make, fresh)

    def dead_letter(self, fresh: bool) -> DeadLetter:
        def make() -> DeadLetter:
            run = self.failed(fresh=True)
            return DeadLetter.objects.get_or_create(run=run, defaults={"error": run.error, "attempts": run.attempts})[0]

        return self._once("dead_letter", make, fresh)

    @cached_property
    def span_seq(self) -> int:
        return int(self.finished.spans.order_by("seq").values_list("seq", flat=True).first())

    @cached_property
    def checkpoint_id(self) -> str:
        return str(self.finished.spans.exclude(checkpoint_id="").values_list("checkpoint_id", flat=True).first())

    @cached_property
    def batch(self) -> str:
        """A regression batch (replays of finished runs), for the batch pages."""
        assert self.finished
        runs = replay_for_promotion(self.promotion, self.admin2, limit=1)
        return str(runs[0].metadata["replay"]["batch"])

    # approvals
    def approval(self, fresh: bool) -> ApprovalRequest:
        """A pending refund approval in `payments`, requested by the requester."""

        def make() -> ApprovalRequest:
            run = start_run("refund", {"order_id": order(), "amount": 250, "reason": "x"}, self.requester)
            assert runtime.execute(run.id) == Run.Status.WAITING
            return ApprovalRequest.objects.get(run=run)

        return self._once("approval", make, fresh)

    def claimed_by(self, role: str, fresh: bool) -> ApprovalRequest:
        """A pending approval held by `role` when it may hold one, else by another reviewer."""
        approval = self.approval(fresh)
        holder = self.users[role] if role in REVIEWERS else self.users["reviewer"]
        if approval.claimed_by_id is None:
            claim(approval.id, holder)
        return approval

    @cached_property
    def promotion(self) -> ApprovalRequest:
        """admin2 asks to move refund_system's protected `production` label to a new version 2."""
        save_version(self.admin2, PROMPT, template=[{"role": "system", "content": "Refund kindly."}], message="v2")
        outcome, request = move_label(self.admin2, PROMPT, "production", 2)
        assert outcome == "pending" and isinstance(request, ApprovalRequest)
        return request

    # prompts, queues, keys
    def prompt(self, fresh: bool) -> str:
        def make() -> str:
            name = f"m-{uuid.uuid4().hex[:8]}"
            create_prompt(self.admin2, name, template=TEMPLATE, message="first", protected_labels=[])
            return name

        return self._once("prompt", make, fresh)

    def queue(self, fresh: bool) -> str:
        def make() -> str:
            name = f"q-{uuid.uuid4().hex[:8]}"
            Queue.objects.create(name=name)
            return name

        return self._once("queue", make, fresh)

    def webhook(self, fresh: bool) -> Webhook:
        return self._once(
            "webhook",
            lambda: Webhook.objects.create(name="hook", url="http://127.0.0.1:9/hook", queue=Queue.objects.get(name="payments")),
            fresh,
        )

    def delivery(self, fresh: bool) -> WebhookDelivery:
        return self._once(
            "delivery",
            lambda: WebhookDelivery.objects.create(
                webhook=self.webhook(fresh), event="approval.requested", payload={}, status="failed"
            ),
            fresh,
        )

    def key_of_someone_else(self, fresh: bool) -> int:
        return self._once("key", lambda: ApiKey.issue(self.requester, name="theirs")[0].id, fresh)


# --- Expectations -----------------------------------------------------------------------------


@dataclass
class Call:
    path: str
    body: Any = None  # API: JSON; pages: form fields
    files: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    """Who may: the roles that succeed. `call(things, fresh)` builds the request. `hidden`: the
    roles refused with 404 (the object is not theirs to see) rather than 403."""

    allowed: frozenset[str]
    call: Callable[[Things, bool], Call]
    hidden: frozenset[str] = frozenset()


def rule(allowed: frozenset[str], call: Callable[[Things, bool], Call], hidden: frozenset[str] = frozenset()) -> Rule:
    return Rule(allowed, call, hidden)


QUEUE_FORM = {"required_approvals": "1", "sla_minutes": "60", "claim_minutes": "15", "timeout_action": "wait"}
WEBHOOK_FORM = {"url": "https://hooks.example.test/hook", "format": "json", "is_active": "on"}


def refund_input() -> dict[str, Any]:
    return {"agent": "refund", "input": {"order_id": order(), "amount": 20, "reason": "x"}}


API: dict[tuple[str, str], Rule] = {
    # runs (agents/web/api.py, traces/inspection/api.py)
    ("POST", "/api/runs"): rule(STARTERS, lambda t, f: Call("/api/runs", refund_input())),
    ("GET", "/api/runs"): rule(READERS, lambda t, f: Call("/api/runs")),
    ("GET", "/api/runs/{run_id}"): rule(READERS, lambda t, f: Call(f"/api/runs/{t.finished.id}")),
    ("GET", "/api/runs/{run_id}/steps"): rule(READERS, lambda t, f: Call(f"/api/runs/{t.finished.id}/steps")),
    ("POST", "/api/runs/{run_id}/cancel"): rule(STARTERS, lambda t, f: Call(f"/api/runs/{t.queued(f).id}/cancel")),
    ("GET", "/api/runs/{run_id}/export"): rule(READERS, lambda t, f: Call(f"/api/runs/{t.finished.id}/export")),
    ("POST", "/api/runs/import"): rule(STARTERS, lambda t, f: Call("/api/runs/import", export_run(t.finished))),
    ("GET", "/api/runs/{run_id}/feedback"): rule(READERS, lambda t, f: Call(f"/api/runs/{t.finished.id}/feedback")),
    ("POST", "/api/runs/{run_id}/feedback"): rule(
        READERS, lambda t, f: Call(f"/api/runs/{t.finished.id}/feedback", {"score": 1})
    ),
    ("POST", "/api/runs/{run_id}/replay"): rule(
        STARTERS, lambda t, f: Call(f"/api/runs/{t.finished.id}/replay", {"mode": "recorded"})
    ),
    ("POST", "/api/runs/{run_id}/replay/preview"): rule(
        STARTERS, lambda t, f: Call(f"/api/runs/{t.finished.id}/replay/preview", {"mode": "live"})
    ),
    ("POST", "/api/runs/{run_id}/retry"): rule(STARTERS, lambda t, f: Call(f"/api/runs/{t.failed(f).id}/retry")),
    ("GET", "/api/runs/{a}/diff/{b}"): rule(
        READERS, lambda t, f: Call(f"/api/runs/{t.finished.id}/diff/{t.other_finished.id}")
    ),
    ("GET", "/api/threads/{thread_id}"): rule(READERS, lambda t, f: Call(f"/api/threads/{t.finished.thread_id}")),
    # agents (agents/web/limits_api.py)
    ("GET", "/api/agents"): rule(READERS, lambda t, f: Call("/api/agents")),
    ("GET", "/api/agents/{key}"): rule(READERS, lambda t, f: Call("/api/agents/refund")),
    ("GET", "/api/agents/{key}/limits"): rule(READERS, lambda t, f: Call("/api/agents/refund/limits")),
    ("PUT", "/api/agents/{key}/limits"): rule(ADMINS, lambda t, f: Call("/api/agents/known/limits", {"max_steps": 40})),
    # approvals (approvals/api.py): reviewers of the request's queue, never its requester
    ("GET", "/api/approvals"): rule(REVIEWERS, lambda t, f: Call("/api/approvals")),
    ("POST", "/api/approvals/next"): rule(REVIEWERS, lambda t, f: (t.approval(True), Call("/api/approvals/next"))[1]),
    ("POST", "/api/approvals/bulk-decision"): rule(
        REVIEWERS, lambda t, f: Call("/api/approvals/bulk-decision", {"ids": [str(t.approval(f).id)], "decision": "approve"})
    ),
    ("GET", "/api/approvals/{approval_id}"): rule(REVIEWERS, lambda t, f: Call(f"/api/approvals/{t.approval(False).id}")),
    ("POST", "/api/approvals/{approval_id}/claim"): rule(
        REVIEWERS, lambda t, f: Call(f"/api/approvals/{t.approval(f).id}/claim")
    ),
    ("POST", "/api/approvals/{approval_id}/release"): rule(
        REVIEWERS, lambda t, f: Call(f"/api/approvals/{t.claimed_by(t.role, f).id}/release")
    ),
    ("POST", "/api/approvals/{approval_id}/decision"): rule(
        REVIEWERS, lambda t, f: Call(f"/api/approvals/{t.approval(f).id}/decision", {"decision": "approve"})
    ),
    ("POST", "/api/approvals/{approval_id}/reassign"): rule(
        REVIEWERS,
        lambda t, f: Call(f"/api/approvals/{t.approval(f).id}/reassign", {"queue": "default", "reason": "matrix"}),
    ),
    # queues (approvals/queues_api.py)
    ("GET", "/api/queues"): rule(REVIEWERS, lambda t, f: Call("/api/queues")),
    ("GET", "/api/queues/{name}/stats"): rule(REVIEWERS, lambda t, f: Call("/api/queues/payments/stats")),
    # prompts (agents/prompt_admin/api.py, agents/prompt_admin/regression_api.py): read by the roles, written by admins
    ("GET", "/api/prompts"): rule(READERS, lambda t, f: Call("/api/prompts")),
    ("POST", "/api/prompts"): rule(
        ADMINS, lambda t, f: Call("/api/prompts", {"name": f"m-{uuid.uuid4().hex[:8]}", "template": TEMPLATE, "message": "m"})
    ),
    ("GET", "/api/prompts/export"): rule(READERS, lambda t, f: Call(f"/api/prompts/export?name={PROMPT}")),
    ("POST", "/api/prompts/import"): rule(ADMINS, lambda t, f: Call("/api/prompts/import", export_prompts([PROMPT]))),
    ("GET", "/api/prompts/{name}"): rule(READERS, lambda t, f: Call(f"/api/prompts/{PROMPT}")),
    ("GET", "/api/prompts/{name}/versions"): rule(READERS, lambda t, f: Call(f"/api/prompts/{PROMPT}/versions")),
    ("POST", "/api/prompts/{name}/versions"): rule(
        ADMINS, lambda t, f: Call(
            f"/api/prompts/{t.prompt(f)}/versions",
            {"template": [{"role": "system", "content": "Be brief with {{ who }}."}], "message": "shorter"},
        )
    ),
    ("GET", "/api/prompts/{name}/versions/{number}"): rule(READERS, lambda t, f: Call(f"/api/prompts/{PROMPT}/versions/1")),
    ("PUT", "/api/prompts/{name}/labels/{label}"): rule(
        ADMINS, lambda t, f: Call(f"/api/prompts/{t.prompt(f)}/labels/staging", {"version": 1})
    ),
    ("GET", "/api/prompts/{name}/labels/{label}/history"): rule(
        READERS, lambda t, f: Call(f"/api/prompts/{PROMPT}/labels/production/history")
    ),
    ("GET", "/api/prompts/{name}/compare"): rule(
        READERS, lambda t, f: (t.promotion, Call(f"/api/prompts/{PROMPT}/compare?a=1&b=2"))[1]
    ),
    ("GET", "/api/prompts/{name}/results"): rule(READERS, lambda t, f: Call(f"/api/prompts/{PROMPT}/results")),
    # Engineers may replay, but the promotion's queue is the admins': not theirs to see.
    ("POST", "/api/prompts/{name}/promotions/{request_id}/regression"): rule(
        ADMINS,
        lambda t, f: (t.finished, Call(f"/api/prompts/{PROMPT}/promotions/{t.promotion.id}/regression", {"limit": 1}))[1],
        hidden=frozenset({"engineer"}),
    ),
    # dead letters (console/web/dead_letters_api.py)
    ("GET", "/api/dead-letters"): rule(STARTERS, lambda t, f: Call("/api/dead-letters")),
    ("POST", "/api/dead-letters/{letter_id}/retry"): rule(
        STARTERS, lambda t, f: Call(f"/api/dead-letters/{t.dead_letter(f).id}/retry")
    ),
    ("POST", "/api/dead-letters/{letter_id}/dismiss"): rule(
        STARTERS, lambda t, f: Call(f"/api/dead-letters/{t.dead_letter(f).id}/dismiss")
    ),
}

# Pages: URL name → {method: rule}. Pages that change state are called with POST.
PAGES: dict[str, dict[str, Rule]] = {
    "home": {"GET": rule(SIGNED_IN, lambda t, f: Call("/"))},
    "run_list": {"GET": rule(READERS, lambda t, f: Call("/runs/"))},
    "run_detail": {"GET": rule(READERS, lambda t, f: Call(f"/runs/{t.finished.id}/"))},
    "run_spans": {"GET": rule(READERS, lambda t, f: Call(f"/runs/{t.finished.id}/spans"))},
    "span_detail": {"GET": rule(READERS, lambda t, f: Call(f"/runs/{t.finished.id}/spans/{t.span_seq}/"))},
    "span_payload": {"GET": rule(READERS, lambda t, f: Call(f"/runs/{t.finished.id}/spans/{t.span_seq}/input.json"))},
    "run_graph": {"GET": rule(READERS, lambda t, f: Call(f"/runs/{t.finished.id}/graph"))},
    "run_checkpoints": {"GET": rule(READERS, lambda t, f: Call(f"/runs/{t.finished.id}/checkpoints"))},
    "run_checkpoint_json": {
        "GET": rule(READERS, lambda t, f: Call(f"/runs/{t.finished.id}/checkpoints/{t.checkpoint_id}.json"))
    },
    "run_export": {"GET": rule(READERS, lambda t, f: Call(f"/runs/{t.finished.id}/export"))},
    "run_diff": {"GET": rule(READERS, lambda t, f: Call(f"/runs/{t.finished.id}/diff/{t.other_finished.id}/"))},
    "thread_detail": {"GET": rule(READERS, lambda t, f: Call(f"/threads/{t.finished.thread_id}/"))},
    "feedback_per_agent": {"GET": rule(READERS, lambda t, f: Call("/runs/feedback"))},
    "run_feedback": {"POST": rule(READERS, lambda t, f: Call(f"/runs/{t.finished.id}/feedback", {"score": "1"}))},
    "run_start": {
        "GET": rule(STARTERS, lambda t, f: Call("/agents/refund/start")),
        "POST": rule(
            STARTERS, lambda t, f: Call("/agents/refund/start", {"order_id": order(), "amount": "20", "reason": "x"})
        ),
    },
    "run_cancel": {"POST": rule(STARTERS, lambda t, f: Call(f"/runs/{t.queued(f).id}/cancel"))},
    "run_replay": {"POST": rule(STARTERS, lambda t, f: Call(f"/runs/{t.finished.id}/replay", {"mode": "recorded"}))},
    "run_retry": {"POST": rule(STARTERS, lambda t, f: Call(f"/runs/{t.failed(f).id}/retry"))},
    "run_import": {
        "GET": rule(STARTERS, lambda t, f: Call("/runs/import")),
        "POST": rule(
            STARTERS,
            lambda t, f: Call(
                "/runs/import",
                files={"trace": SimpleUploadedFile("run.json", json.dumps(export_run(t.finished)).encode())},
            ),
        ),
    },
    "replay_failed": {
        "GET": rule(STARTERS, lambda t, f: Call("/agents/known/replay-failed")),
        "POST": rule(STARTERS, lambda t, f: (t.failed(f), Call("/agents/known/replay-failed", {"mode": "recorded"}))[1]),
    },
    "replay_batch": {"GET": rule(STARTERS, lambda t, f: Call(f"/replays/{t.batch}/"))},
    "replay_batch_rows": {"GET": rule(STARTERS, lambda t, f: Call(f"/replays/{t.batch}/rows"))},
    "approval_list": {"GET": rule(REVIEWERS, lambda t, f: Call("/approvals/"))},
    "approval_detail": {"GET": rule(REVIEWERS, lambda t, f: Call(f"/approvals/{t.approval(f).id}/"))},
    "approval_decide": {
        "POST": rule(REVIEWERS, lambda t, f: Call(f"/approvals/{t.approval(f).id}/decide", {"decision": "approve"}))
    },
    "approval_release": {
        "POST": rule(REVIEWERS, lambda t, f: Call(f"/approvals/{t.claimed_by(t.role, f).id}/release"))
    },
    "approval_reassign": {
        "POST": rule(
            REVIEWERS, lambda t, f: Call(f"/approvals/{t.approval(f).id}/reassign", {"queue": "default", "reason": "m"})
        )
    },
    "approval_next": {"POST": rule(REVIEWERS, lambda t, f: (t.approval(True), Call("/approvals/next"))[1])},
    "approval_bulk": {
        "POST": rule(REVIEWERS, lambda t, f: Call("/approvals/bulk", {"ids": [str(t.approval(f).id)], "decision": "approve"}))
    },
    # The promotion's queue is the admins': for everyone else it does not exist.
    "promotion_regression": {
        "GET": rule(ADMINS, lambda t, f: Call(f"/approvals/{t.promotion.id}/regression"), hidden=READERS | {"outsider"}),
        "POST": rule(
            ADMINS,
            lambda t, f: (t.finished, Call(f"/approvals/{t.promotion.id}/regression", {"limit": "1"}))[1],
            hidden=READERS | {"outsider"},
        ),
    },
    "queue_list": {"GET": rule(REVIEWERS, lambda t, f: Call("/queues/"))},
    "queue_create": {
        "GET": rule(ADMINS, lambda t, f: Call("/queues/new")),
        "POST": rule(ADMINS, lambda t, f: Call("/queues/new", {**QUEUE_FORM, "name": f"q-{uuid.uuid4().hex[:8]}"})),
    },
    "queue_edit": {
        "GET": rule(ADMINS, lambda t, f: Call(f"/queues/{t.queue(False)}/edit")),
        "POST": rule(ADMINS, lambda t, f: (lambda name: Call(f"/queues/{name}/edit", {**QUEUE_FORM, "name": name}))(t.queue(f))),
    },
    "queue_analytics": {"GET": rule(REVIEWERS, lambda t, f: Call("/queues/payments/analytics"))},
    "webhook_list": {
        "GET": rule(ADMINS, lambda t, f: Call("/queues/payments/webhooks/")),
        "POST": rule(ADMINS, lambda t, f: Call("/queues/payments/webhooks/", {**WEBHOOK_FORM, "name": "h"})),
    },
    "webhook_detail": {
        "GET": rule(ADMINS, lambda t, f: Call(f"/queues/payments/webhooks/{t.webhook(False).id}/")),
        "POST": rule(
            ADMINS,
            lambda t, f: Call(f"/queues/payments/webhooks/{t.webhook(f).id}/", {**WEBHOOK_FORM, "name": "h2"}),
        ),
    },
    "webhook_toggle": {"POST": rule(ADMINS, lambda t, f: Call(f"/queues/payments/webhooks/{t.webhook(f).id}/toggle"))},
    "webhook_rotate_secret": {
        "POST": rule(ADMINS, lambda t, f: Call(f"/queues/payments/webhooks/{t.webhook(f).id}/rotate-secret"))
    },
    "webhook_redeliver": {
        "POST": rule(
            ADMINS,
            lambda t, f: (
                lambda d: Call(f"/queues/payments/webhooks/{d.webhook_id}/redeliver/{d.id}")
            )(t.delivery(f)),
        )
    },
    "prompt_list": {"GET": rule(READERS, lambda t, f: Call("/prompts/"))},
    "prompt_new": {
        "GET": rule(ADMINS, lambda t, f: Call("/prompts/new")),
        "POST": rule(ADMINS, lambda t, f: Call("/prompts/new", {"name": f"m-{uuid.uuid4().hex[:8]}", "kind": "text"})),
    },
    "prompt_validate": {"POST": rule(ADMINS, lambda t, f: Call("/prompts/validate", {"prompt": PROMPT}))},
    "prompt_detail": {"GET": rule(READERS, lambda t, f: Call(f"/prompts/{PROMPT}/"))},
    "prompt_version": {"GET": rule(READERS, lambda t, f: Call(f"/prompts/{PROMPT}/versions/1/"))},
    "prompt_edit": {
        "GET": rule(ADMINS, lambda t, f: Call(f"/prompts/{t.prompt(False)}/edit")),
        "POST": rule(
            ADMINS,
            lambda t, f: Call(
                f"/prompts/{t.prompt(f)}/edit",
                {"role": "system", "content": "Be brief with {{ who }}.", "var_name": "who", "var_type": "string", "message": "m"},
            ),
        ),
    },
    "prompt_move_label": {
        "POST": rule(ADMINS, lambda t, f: Call(f"/prompts/{t.prompt(f)}/labels", {"label": "staging", "version": "1"}))
    },
    "prompt_diff": {"GET": rule(READERS, lambda t, f: Call(f"/prompts/{PROMPT}/diff?a=1&b=1"))},
    "prompt_playground": {
        "GET": rule(READERS, lambda t, f: Call(f"/prompts/{PROMPT}/playground")),
        "POST": rule(STARTERS, lambda t, f: Call(f"/prompts/{PROMPT}/playground", {})),
    },
    "dead_letter_list": {"GET": rule(STARTERS, lambda t, f: Call("/dead-letters/"))},
    "dead_letter_retry": {"POST": rule(STARTERS, lambda t, f: Call(f"/dead-letters/{t.dead_letter(f).id}/retry"))},
    "dead_letter_dismiss": {"POST": rule(STARTERS, lambda t, f: Call(f"/dead-letters/{t.dead_letter(f).id}/dismiss"))},
    "key_list": {
        "GET": rule(SIGNED_IN, lambda t, f: Call("/keys/")),
        "POST": rule(SIGNED_IN, lambda t, f: Call("/keys/", {"name": "mine"})),
    },
    # Someone else's key: only an admin may revoke it; for anyone else it does not exist.
    "key_revoke": {
        "POST": rule(ADMINS, lambda t, f: Call(f"/keys/{t.key_of_someone_else(f)}/revoke"), hidden=SIGNED_IN - ADMINS)
    },
}

# Not console pages, or tested on their own terms.
PAGES_ELSEWHERE = {
    "login": "public by design",
    "logout": "any session may end itself",
    "healthz": "public probe",
    "readyz": "public probe",
    "metrics": "token or private network (tests/console/test_metrics.py)",
    "approval_link": "one-time emailed token (tests/approvals/test_email_links.py)",
    # The LangGraph SDK's API keys and roles (console/langgraph_api/auth.py): tests/langgraph_api, tests/langgraph_stream.
    "langgraph_run_stream": "LangGraph SDK API, API keys (tests/langgraph_stream)",
    "langgraph_thread_run_stream": "LangGraph SDK API, API keys (tests/langgraph_stream)",
    "langgraph_join_stream": "LangGraph SDK API, API keys (tests/langgraph_stream)",
    "langgraph_thread_commands": "a JSON 404: not implemented (tests/langgraph_stream)",
    "langgraph_thread_stream_events": "a JSON 404: not implemented (tests/langgraph_stream)",
}


# --- Calling -----------------------------------------------------------------------------------


def api_operations() -> set[tuple[str, str]]:
    document = Client().get("/api/openapi.json").json()
    return {(method.upper(), path) for path, methods in document["paths"].items() for method in methods}


def page_names() -> set[str]:
    def walk(patterns: list[Any]) -> Iterator[str]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace not in ("admin", "api"):
                    yield from walk(pattern.url_patterns)
            elif isinstance(pattern, URLPattern) and pattern.name:
                yield pattern.name

    return set(walk(get_resolver().url_patterns))


def expected_refusal(rule_: Rule, role: str, api: bool) -> int:
    if role == "anonymous":
        return 401 if api else 302
    return 404 if role in rule_.hidden else 403


def call_api(things: Things, role: str, method: str, rule_: Rule) -> tuple[int, str]:
    things.role = role
    request = rule_.call(things, role in rule_.allowed)
    headers = {"Authorization": f"Bearer {things.keys[role]}"} if role in things.keys else {}
    body = json.dumps(request.body) if request.body is not None else ""
    response = Client().generic(method, request.path, body, content_type="application/json", headers=headers)
    return response.status_code, response.content[:300].decode(errors="replace")


def call_page(things: Things, role: str, method: str, rule_: Rule) -> tuple[int, str]:
    things.role = role
    request = rule_.call(things, role in rule_.allowed)
    browser = Client()
    if role in things.users:
        browser.force_login(things.users[role])
    if method == "GET":
        response = browser.get(request.path)
    else:
        response = browser.post(request.path, {**(request.body or {}), **request.files})
    return response.status_code, response.get("Location", "")


def check(role: str, label: str, status: int, detail: str, rule_: Rule, api: bool) -> str | None:
    """A problem with the answer, or None."""
    if role in rule_.allowed:
        if api and 200 <= status < 300:
            return None
        if not api and (status == 200 or (status in (302, 303) and not detail.startswith("/login/"))):
            return None
        return f"{label} as {role}: expected success, got {status} {detail}"
    refusal = expected_refusal(rule_, role, api)
    if status == refusal and (api or refusal != 302 or detail.startswith("/login/")):
        return None
    kind = "UNEXPECTED SUCCESS" if status < 400 and not detail.startswith("/login/") else "wrong refusal"
    return f"{label} as {role}: {kind}: expected {refusal}, got {status} {detail}"


@pytest.fixture
def things(roles: None, settings: Any, purge_broker: None) -> Things:
    settings.STEWARD_RATE_LIMIT_PER_MINUTE = 0  # limits have their own tests
    return Things()


# --- Tests -------------------------------------------------------------------------------------


def test_every_api_operation_has_expectations(db: None) -> None:
    """A new operation in the OpenAPI document needs a row in API (who may call it, and how)."""
    operations = api_operations()
    missing = sorted(operations - set(API))
    stale = sorted(set(API) - operations)
    assert not missing, f"operations without authorization expectations (add them to API): {missing}"
    assert not stale, f"expectations for operations the API no longer has: {stale}"


def test_every_page_has_expectations(db: None) -> None:
    """A new named URL needs a row in PAGES (or a reason in PAGES_ELSEWHERE)."""
    names = page_names()
    missing = sorted(names - set(PAGES) - set(PAGES_ELSEWHERE))
    stale = sorted((set(PAGES) | set(PAGES_ELSEWHERE)) - names)
    assert not missing, f"pages without authorization expectations (add them to PAGES): {missing}"
    assert not stale, f"expectations for pages that no longer exist: {stale}"


@pytest.mark.parametrize("role", ROLES)
def test_api_matrix(things: Things, role: str) -> None:
    """Every API operation as `role`: allowed ones succeed, the others are refused."""
    problems = []
    for (method, path), rule_ in API.items():
        status, detail = call_api(things, role, method, rule_)
        problem = check(role, f"{method} {path}", status, detail, rule_, api=True)
        if problem:
            problems.append(problem)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", ROLES)
def test_page_matrix(things: Things, role: str) -> None:
    """Every page and form as `role`: allowed ones answer, the others are refused."""
    problems = []
    for name, methods in PAGES.items():
        for method, rule_ in methods.items():
            status, detail = call_page(things, role, method, rule_)
            problem = check(role, f"{method} {name}", status, detail, rule_, api=False)
            if problem:
                problems.append(problem)
    assert not problems, "\n".join(problems)


# --- Self-approval -------------------------------------------------------------------------------


def test_the_requester_of_a_run_cannot_approve_its_action(roles: None) -> None:
    """Someone who both starts runs and reviews may not decide their own run's approval, by the
    API or the page; another reviewer may."""
    both = make_user("both", "engineers", "reviewers")
    other = make_user("other-reviewer", "reviewers")
    run = start_run("refund", {"order_id": order(), "amount": 250, "reason": "x"}, both)
    assert runtime.execute(run.id) == Run.Status.WAITING
    approval = ApprovalRequest.objects.get(run=run)
    key = ApiKey.issue(both)[1]

    response = Client().post(
        f"/api/approvals/{approval.id}/decision", {"decision": "approve"}, content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 403 and "four-eyes" in response.json()["detail"]
    page = Client()
    page.force_login(both)
    response = page.post(f"/approvals/{approval.id}/decide", {"decision": "approve"})
    assert response.status_code == 403 and b"four-eyes" in response.content
    bulk = page.post("/approvals/bulk", {"ids": [str(approval.id)], "decision": "approve"})
    assert bulk.status_code in (200, 302)
    approval.refresh_from_db()
    assert approval.status == ApprovalRequest.Status.PENDING and approval.decisions.count() == 0

    key_other = ApiKey.issue(other)[1]
    response = Client().post(
        f"/api/approvals/{approval.id}/decision", {"decision": "approve"}, content_type="application/json",
        headers={"Authorization": f"Bearer {key_other}"},
    )
    assert response.status_code == 200 and response.json()["status"] == "approved"


def production_version(user: User) -> int:
    prompt = Client().get(f"/api/prompts/{PROMPT}", headers={"Authorization": f"Bearer {ApiKey.issue(user)[1]}"}).json()
    return int({label["name"]: label["version"] for label in prompt["labels"]}["production"])


def test_the_admin_who_requested_a_promotion_cannot_approve_it(roles: None) -> None:
    """A protected label's move waits for another admin: the admin who asked is refused by the
    API and the page, the second admin approves and the label moves."""
    admin = make_user("promoter", "admins", is_staff=True, is_superuser=True)
    admin2 = make_user("second-admin", "admins")
    save_version(admin, PROMPT, template=[{"role": "system", "content": "Refund kindly."}], message="v2")
    outcome, request = move_label(admin, PROMPT, "production", 2)
    assert outcome == "pending" and isinstance(request, ApprovalRequest)

    own = Client().post(
        f"/api/approvals/{request.id}/decision", {"decision": "approve"}, content_type="application/json",
        headers={"Authorization": f"Bearer {ApiKey.issue(admin)[1]}"},
    )
    assert own.status_code == 403 and "four-eyes" in own.json()["detail"]
    page = Client()
    page.force_login(admin)
    assert page.post(f"/approvals/{request.id}/decide", {"decision": "approve"}).status_code == 403
    assert production_version(admin) == 1

    other = Client().post(
        f"/api/approvals/{request.id}/decision", {"decision": "approve"}, content_type="application/json",
        headers={"Authorization": f"Bearer {ApiKey.issue(admin2)[1]}"},
    )
    assert other.status_code == 200 and other.json()["status"] == "approved"
    assert production_version(admin2) == 2


def test_the_requester_of_a_question_reaches_its_request_and_nothing_else(roles: None, purge_broker: None) -> None:
    """A run's requester with only the role that starts runs, on a question their run asks them
    (the default queue lets them answer it): its request, its decision and the inbox's "Asked
    of you" (that request alone) open to them, every other approvals operation and page stays
    the reviewers'."""
    asker = make_user("asker", "engineers")
    run = start_run("question", {"topic": "order"}, asker)
    assert runtime.execute(run.id) == Run.Status.WAITING
    approval = ApprovalRequest.objects.get(run=run)
    headers = {"Authorization": f"Bearer {ApiKey.issue(asker)[1]}"}
    base = f"/api/approvals/{approval.id}"
    refused = [
        ("GET", "/api/approvals", None),
        ("POST", "/api/approvals/next", None),
        ("POST", "/api/approvals/bulk-decision", {"ids": [str(approval.id)], "decision": "respond", "comment": "x"}),
        ("POST", f"{base}/claim", None),
        ("POST", f"{base}/release", None),
        ("POST", f"{base}/reassign", {"queue": "payments", "reason": "m"}),
        ("GET", "/api/queues", None),
    ]
    for method, path, body in refused:
        response = Client().generic(method, path, json.dumps(body) if body else "", content_type="application/json", headers=headers)
        assert response.status_code == 403, f"{method} {path}: {response.status_code}"
    page = Client()
    page.force_login(asker)
    inbox = page.get("/approvals/", {"queue": "default", "asked": ""})
    assert inbox.status_code == 200 and inbox.content.decode().count('<li id="approval-') == 1
    assert f'<li id="approval-{approval.id}"' in inbox.content.decode()
    assert page.post("/approvals/next").status_code == 403
    assert page.post(f"/approvals/{approval.id}/reassign", {"queue": "payments", "reason": "m"}).status_code == 403
    approval.refresh_from_db()
    assert approval.status == "pending" and approval.queue.name == "default" and approval.claimed_by_id is None

    assert Client().get(base, headers=headers).status_code == 200
    assert page.get(f"/approvals/{approval.id}/").status_code == 200
    answered = Client().post(
        f"{base}/decision", {"decision": "answer", "value": "A-1"}, content_type="application/json", headers=headers
    )
    assert answered.status_code == 200 and answered.json()["status"] == "responded"
