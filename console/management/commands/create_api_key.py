from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from console.kernel.models import ApiKey


class Command(BaseCommand):
    help = "Create an API key for a user. The key is printed once, alone on the last line; only its hash is stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="A label for the key")
        parser.add_argument("--expires-in-days", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user named {options['username']!r}")
        key, raw = ApiKey.issue(user, name=options["name"], expires_in_days=options["expires_in_days"])
        self.stderr.write(f"API key {key.prefix}… for {user.get_username()} (shown once, store it now):")
        self.stdout.write(raw)
