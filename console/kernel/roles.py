"""The three console roles, as Django groups. Admins (or superusers) may do everything."""

from __future__ import annotations

from typing import Any

REVIEWERS = "reviewers"
ENGINEERS = "engineers"
ADMINS = "admins"
ROLE_GROUPS = (REVIEWERS, ENGINEERS, ADMINS)


def remember_groups(user: Any, names: list[str]) -> None:
    """The user's group names, read along with something else (an API key): `groups_of` then
    needs no query of its own."""
    user._steward_groups = set(names)


def groups_of(user: Any) -> set[str]:
    if not getattr(user, "is_authenticated", False):
        return set()
    cached = getattr(user, "_steward_groups", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._steward_groups = cached
    return cached


def is_admin(user: Any) -> bool:
    return bool(getattr(user, "is_superuser", False)) or ADMINS in groups_of(user)


def has_role(user: Any, *roles: str) -> bool:
    return is_admin(user) or bool(groups_of(user) & set(roles))


def can_start_runs(user: Any) -> bool:
    return has_role(user, ENGINEERS)


def can_read_runs(user: Any) -> bool:
    return has_role(user, ENGINEERS, REVIEWERS)
