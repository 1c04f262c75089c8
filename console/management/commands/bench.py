"""`manage.py bench`: part of the dev harness (console/harness/commands/bench.py)."""

from console.harness.commands.bench import Command

__all__ = ["Command"]
