"""One process: the ASGI server, a Celery worker thread, the sweeper and periodic tasks.

This is what `make demo` runs: no Postgres or Redis, SQLite and the memory broker.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

log = logging.getLogger(__name__)


def periodic_loop(stop: threading.Event, interval: float) -> None:
    from django.db import close_old_connections

    from agents.sweeper import sweep
    from approvals.services import enforce_sla
    from approvals.webhooks import resend_overdue
    from traces.retention import prune_finished_runs

    # The periodic tasks beat runs in production, in this process. The pruner returns at once
    # while retention is off (STEWARD_RETENTION_DAYS=0).
    while not stop.wait(interval):
        for task in (sweep, enforce_sla, resend_overdue, prune_finished_runs):
            try:
                task()
            except Exception:  # noqa: BLE001 - the loop must outlive one bad run
                log.exception("%s failed", task.__name__)
            finally:
                close_old_connections()


class Command(BaseCommand):
    help = "Serve the console with an in-process worker and sweeper (the embedded default)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args: Any, **options: Any) -> None:
        from celery.contrib.testing.worker import start_worker
        from channels.routing import get_default_application
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        from console.celery import app

        if not settings.CELERY_BROKER_URL.startswith("memory://"):
            raise CommandError("serve_embedded runs the in-process worker on memory://; use `make serve` with a broker")
        stop = threading.Event()
        sweeper = threading.Thread(
            target=periodic_loop, args=(stop, settings.STEWARD_SWEEP_SECONDS), name="sweeper", daemon=True
        )
        sweeper.start()
        application = get_default_application()
        with start_worker(app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=30, loglevel="WARNING"):
            self.stdout.write(f"Steward is serving http://{options['host']}:{options['port']} (worker and sweeper in-process)")
            try:
                Server(
                    application=application,
                    endpoints=build_endpoint_description_strings(host=options["host"], port=options["port"]),
                    signal_handlers=True,
                ).run()
            finally:
                stop.set()
