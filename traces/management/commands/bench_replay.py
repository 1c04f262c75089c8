"""`manage.py bench_replay`: part of the dev harness (console/harness/commands/bench_replay.py)."""

from console.harness.commands.bench_replay import Command

__all__ = ["Command"]
