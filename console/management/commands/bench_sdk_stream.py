"""`manage.py bench_sdk_stream`: part of the dev harness (console/harness/commands/bench_sdk_stream.py)."""

from console.harness.commands.bench_sdk_stream import Command

__all__ = ["Command"]
