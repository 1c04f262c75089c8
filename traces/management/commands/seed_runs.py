"""`manage.py seed_runs`: part of the dev harness (console/harness/commands/seed_runs.py)."""

from console.harness.commands.seed_runs import Command

__all__ = ["Command"]
