"""`manage.py bench_approvals`: part of the dev harness (console/harness/commands/bench_approvals.py)."""

from console.harness.commands.bench_approvals import Command

__all__ = ["Command"]
