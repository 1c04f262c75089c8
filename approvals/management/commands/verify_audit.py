from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from console.kernel.audit import rows_with_secrets, verify
from console.kernel.models import AuditEvent


class Command(BaseCommand):
    help = (
        "Check the audit log's hash chain; exits non-zero naming the first broken row. With --secrets, "
        "list the rows whose data holds a secret (written before audit data was redacted) instead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--secrets", action="store_true",
            help="report rows whose data holds a secret (they cannot be rewritten: see docs/production.md)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["secrets"]:
            self._report_secrets()
            return
        for event, problem in verify():
            raise CommandError(f"audit row {event.id} ({event.action} {event.object_type}:{event.object_id} at {event.at.isoformat()}) is broken: {problem}")
        self.stdout.write(f"audit chain intact: {AuditEvent.objects.count()} rows")

    def _report_secrets(self) -> None:
        # Names the row and the kind of secret, never the secret itself.
        found = [
            f"audit row {event.id} ({event.action} {event.object_type}:{event.object_id} at {event.at.isoformat()}): "
            f"{', '.join(kinds)}"
            for event, kinds in rows_with_secrets()
        ]
        if found:
            raise CommandError(f"{len(found)} audit rows hold secrets in plain text:\n" + "\n".join(found))
        self.stdout.write(f"no audit row holds a secret: {AuditEvent.objects.count()} rows")
