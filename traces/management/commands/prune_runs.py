"""`manage.py prune_runs [--days N] [--dry-run]`: apply the retention now and say what went."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from traces.inspection.retention import cutoff_for, preview, prune_finished_runs


def figures_line(figures: dict[str, int]) -> str:
    parts = [
        f"{figures['spans']} spans",
        f"{figures['checkpoints']} checkpoints",
        f"{figures['checkpoint_writes']} checkpoint writes",
    ]
    if figures["checkpoint_blobs"]:
        parts.append(f"{figures['checkpoint_blobs']} checkpoint blobs")
    return ", ".join(parts)


class Command(BaseCommand):
    help = (
        "Delete the spans and checkpoints of runs finished more than --days days ago (default "
        "STEWARD_RETENTION_DAYS) and mark those runs pruned; their rows, totals and outputs stay. "
        "Runs waiting for an approval, and the sources of replays still going, are kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None, help="Retention in days (default: STEWARD_RETENTION_DAYS)")
        parser.add_argument("--batch", type=int, default=None, help="Runs per transaction (default: STEWARD_RETENTION_BATCH)")
        parser.add_argument("--dry-run", action="store_true", help="Only count what would be deleted")

    def handle(self, *args: Any, **options: Any) -> None:
        days = settings.STEWARD_RETENTION_DAYS if options["days"] is None else options["days"]
        if days < 0:
            raise CommandError(f"--days must be 0 (keep everything) or more, not {days}")
        if options["batch"] is not None and options["batch"] < 1:
            raise CommandError(f"--batch must be at least 1, not {options['batch']}")
        if days == 0:
            self.stdout.write("Retention is off (0 days): nothing pruned. Set STEWARD_RETENTION_DAYS or pass --days.")
            return
        now = timezone.now()
        before = f"finished before {cutoff_for(now, days):%Y-%m-%d %H:%M} UTC (retention {days} days)"
        if options["dry_run"]:
            figures = preview(now=now, days=days)
            self.stdout.write(f"Would prune {figures['runs']} runs {before}: {figures_line(figures)}. Nothing deleted.")
            return
        figures = prune_finished_runs(now=now, days=days, batch=options["batch"])
        self.stdout.write(
            f"Pruned {figures['runs']} runs {before}: {figures_line(figures)}, "
            f"in {figures['batches']} transactions."
        )
