from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from console.kernel.models import EXPIRY_DAYS_MAX, EXPIRY_DAYS_MIN, ApiKey


class Command(BaseCommand):
    help = "Create an API key for a user. The key is printed once, alone on the last line; only its hash is stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="A label for the key")
        parser.add_argument(
            "--expires-in-days",
            type=int,
            default=None,
            help=f"Days the key lives, {EXPIRY_DAYS_MIN} to {EXPIRY_DAYS_MAX}; without it the key never expires",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user named {options['username']!r}")
        days = options["expires_in_days"]
        # 0 would read as "no expiry" and a negative number would issue a dead key: refuse both.
        if days is not None and not EXPIRY_DAYS_MIN <= days <= EXPIRY_DAYS_MAX:
            raise CommandError(
                f"--expires-in-days must be between {EXPIRY_DAYS_MIN} and {EXPIRY_DAYS_MAX} days, not {days}; "
                "leave it out for a key that never expires"
            )
        key, raw = ApiKey.issue(user, name=options["name"], expires_in_days=days)
        self.stderr.write(f"API key {key.prefix}… for {user.get_username()} (shown once, store it now):")
        self.stdout.write(raw)
