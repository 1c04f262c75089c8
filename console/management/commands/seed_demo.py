from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from agents.engine.registry import sync_agents
from agents.prompt_admin.services import move_label, save_version
from agents.prompts import sync_prompts
from agents.prompts.models import Prompt
from approvals.defaults import ensure_defaults
from approvals.models import Queue
from console.kernel.roles import ADMINS, ENGINEERS, REVIEWERS

DEMO_PASSWORD = "steward"
# Two admins: moving a prompt's `production` label needs another admin's approval (four-eyes).
DEMO_USERS = {"admin": ADMINS, "admin2": ADMINS, "reviewer": REVIEWERS, "engineer": ENGINEERS}
# A candidate version of the refund agent's prompt under `staging`, to diff and promote.
CANDIDATE = [
    {
        "role": "system",
        "content": "You are the refund assistant of {shop_name}. Look the order up before you propose a refund, "
        "and never refund more than the order's total. Be warm and brief.\nSign-off: Thanks for shopping with "
        "{shop_name}!",
    },
    {"role": "placeholder", "name": "history"},
]


class Command(BaseCommand):
    help = "Create the demo groups, users (password 'steward': demo only) and agents. Safe to run again."

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        for username, group_name in DEMO_USERS.items():
            group, _ = Group.objects.get_or_create(name=group_name)
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(DEMO_PASSWORD)
            if username == "admin":
                user.is_staff = user.is_superuser = True
            user.save()
            user.groups.add(group)
        # The queues every installation has (migrate creates them; again here if one was deleted):
        # `default` takes the requests of agents that name no queue, such as every interrupt of a
        # graph from langgraph.json, and the demo reviewers review it.
        ensure_defaults(Group, Queue)
        sync_agents()
        sync_prompts()
        self._candidate_prompt(User.objects.get(username="admin"))
        self.stdout.write("Demo users (password 'steward', for the demo only): admin, admin2, reviewer, engineer")

    def _candidate_prompt(self, admin: Any) -> None:
        prompt = Prompt.objects.filter(name="refund_system").first()
        if prompt is None or prompt.versions.count() != 1:
            return  # already seeded, or changed by someone: leave it alone
        version = save_version(
            admin, "refund_system", template=CANDIDATE, model_settings={"model": "scripted-demo", "temperature": 0},
            message="Warmer sign-off (demo candidate)", base_number=1,
        )
        move_label(admin, "refund_system", "staging", version.number, note="demo candidate")
