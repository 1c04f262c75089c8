"""`manage.py seed_approvals`: part of the dev harness (console/harness/commands/seed_approvals.py)."""

from console.harness.commands.seed_approvals import Command

__all__ = ["Command"]
