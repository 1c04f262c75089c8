from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from agents.registry import sync_agents
from console.roles import ADMINS, ENGINEERS, REVIEWERS

DEMO_PASSWORD = "steward"
DEMO_USERS = {"admin": ADMINS, "reviewer": REVIEWERS, "engineer": ENGINEERS}


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
        sync_agents()
        self.stdout.write("Demo users (password 'steward', for the demo only): admin, reviewer, engineer")
