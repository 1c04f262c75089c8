"""`manage.py chaos`: part of the dev harness (console/harness/commands/chaos.py)."""

from console.harness.commands.chaos import Command

__all__ = ["Command"]
