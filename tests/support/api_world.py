"""A small, real world for tests that call every API endpoint: one user per role with an API
key, and real objects for the endpoints' ids (a waiting run with its pending approval, finished
runs, a failed run in the dead-letter list, the refund agent's prompt with a pending promotion).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User

from agents.engine import runtime
from agents.engine.models import DeadLetter, Run
from agents.engine.services import start_run
from agents.prompt_admin.services import move_label, save_version
from approvals.models import ApprovalRequest
from console.kernel.models import ApiKey
from tests.support.runs import queued_refund, waiting_refund
from tests.support.users import make_user

# Role name → the groups its user is in ("outsider" has none; "admin" is also a superuser).
ROLE_GROUPS: dict[str, tuple[str, ...]] = {
    "outsider": (),
    "reviewer": ("reviewers",),
    "engineer": ("engineers",),
    "admin": ("admins",),
}
ROLES = ("anonymous", *ROLE_GROUPS)
PROMPT = "refund_system"  # the refund agent's prompt: its runs pin it, so a regression has runs


@dataclass
class World:
    users: dict[str, User] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    # A second admin, who may approve the first admin's promotion; a requester who is both an
    # engineer and a reviewer, whose own run's approval they may not decide.
    admin2: User | None = None
    waiting_run: Run | None = None
    approval: ApprovalRequest | None = None
    finished_run: Run | None = None
    other_run: Run | None = None
    promotion: ApprovalRequest | None = None
    dead_letter: DeadLetter | None = None

    def headers(self, role: str) -> dict[str, str]:
        """The Authorization header of `role`'s API key (none for anonymous)."""
        key = self.keys.get(role)
        return {"Authorization": f"Bearer {key}"} if key else {}


def finished_refund(user: User) -> Run:
    """A small refund (no gate) executed to the end."""
    run = queued_refund(user, 20)
    assert runtime.execute(run.id) == "succeeded"
    return Run.objects.select_related("agent").get(id=run.id)


def dead_letter(user: User) -> DeadLetter:
    """A run whose tool fails, in the dead-letter list."""
    run = start_run("known", {"topic": "explode"}, user)
    assert runtime.execute(run.id) == "failed"
    run.refresh_from_db()
    return DeadLetter.objects.get_or_create(run=run, defaults={"error": run.error, "attempts": run.attempts})[0]


def pending_promotion(admin: User) -> ApprovalRequest:
    """`admin` saves version 2 of the refund prompt and asks to move its protected `production`
    label to it: a pending request another admin must decide."""
    save_version(admin, PROMPT, template=[{"role": "system", "content": "Refund kindly."}], message="shorter")
    outcome, request = move_label(admin, PROMPT, "production", 2)
    assert outcome == "pending" and isinstance(request, ApprovalRequest)
    return request


def build_world() -> World:
    """Users of every role with keys, and the objects; needs the `roles` fixture's groups."""
    world = World()
    for role, groups in ROLE_GROUPS.items():
        extra: dict[str, Any] = {"is_staff": True, "is_superuser": True} if role == "admin" else {}
        user = make_user(f"{role}-w", *groups, **extra)
        world.users[role] = user
        world.keys[role] = ApiKey.issue(user)[1]
    world.admin2 = make_user("admin2-w", "admins", is_staff=True)
    engineer = world.users["engineer"]
    world.waiting_run, world.approval = waiting_refund(engineer)
    world.finished_run = finished_refund(engineer)
    world.other_run = finished_refund(engineer)
    world.promotion = pending_promotion(world.users["admin"])
    world.dead_letter = dead_letter(engineer)
    return world
