"""The role groups and default queues every installation has (used by a migration and tests)."""

from __future__ import annotations

from typing import Any

ROLES = ("reviewers", "engineers", "admins")
QUEUES = {
    "default": "Gated actions whose agent names no queue.",
    "payments": "Refunds and other payments: one approval from the reviewers group.",
    "budget": "Runs paused over one of their limits (steps, time, cost): continue with the limit raised, or end them.",
}


def ensure_defaults(group_model: Any, queue_model: Any) -> None:
    """Create what is missing; takes model classes so a migration can pass its historical ones."""
    groups = {name: group_model.objects.get_or_create(name=name)[0] for name in ROLES}
    for name, description in QUEUES.items():
        queue, _ = queue_model.objects.get_or_create(name=name, defaults={"description": description})
        queue.reviewer_groups.add(groups["reviewers"])
