from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from console.kernel.audit import verify
from console.kernel.models import AuditEvent


class Command(BaseCommand):
    help = "Check the audit log's hash chain; exits non-zero naming the first broken row."

    def handle(self, *args: Any, **options: Any) -> None:
        for event, problem in verify():
            raise CommandError(f"audit row {event.id} ({event.action} {event.object_type}:{event.object_id} at {event.at.isoformat()}) is broken: {problem}")
        self.stdout.write(f"audit chain intact: {AuditEvent.objects.count()} rows")
