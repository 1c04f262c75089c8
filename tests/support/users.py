"""Users in the roles' groups, with the password the login pages and browser tests type."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, User


def make_user(username: str, *groups: str, **extra: Any) -> User:
    user = User.objects.create_user(username=username, password="pw-" + username, **extra)
    for name in groups:
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    return user
