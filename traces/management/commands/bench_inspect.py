"""`manage.py bench_inspect`: part of the dev harness (console/harness/commands/bench_inspect.py)."""

from console.harness.commands.bench_inspect import Command

__all__ = ["Command"]
