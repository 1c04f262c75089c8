"""`manage.py bench_live`: part of the dev harness (console/harness/commands/bench_live.py)."""

from console.harness.commands.bench_live import Command

__all__ = ["Command"]
