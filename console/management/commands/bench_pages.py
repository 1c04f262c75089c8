"""`manage.py bench_pages`: part of the dev harness (console/harness/commands/bench_pages.py)."""

from console.harness.commands.bench_pages import Command

__all__ = ["Command"]
