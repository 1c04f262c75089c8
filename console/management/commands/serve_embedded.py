"""One process: the ASGI server, a Celery worker thread, the sweeper and periodic tasks.

This is what `make demo` runs: no Postgres or Redis, SQLite and the memory broker.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
from typing import Any

from celery.contrib.testing.worker import start_worker
from channels.routing import get_default_application
from daphne.endpoints import build_endpoint_description_strings
from daphne.server import Server
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from console.celery import app

log = logging.getLogger(__name__)


def due_tasks(last_run: dict[str, float], now: float) -> list[str]:
    """The beat schedule's tasks (settings.CELERY_BEAT_SCHEDULE) whose interval has passed since
    they last ran, marked as run at `now`. Each keeps its own interval, as beat would."""
    due = []
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        name, every = entry["task"], float(entry["schedule"])
        if now - last_run.get(name, now - every) >= every:
            last_run[name] = now
            due.append(name)
    return due


def periodic_loop(stop: threading.Event, tick: float = 0.5) -> None:
    """What beat does in production, in this process: each task of the beat schedule, run here
    (not queued) on its own interval, so this list cannot drift from production's."""



    app.loader.import_default_modules()  # the tasks modules (autodiscovery), as a worker does at start
    last_run: dict[str, float] = {}
    while not stop.wait(tick):
        for name in due_tasks(last_run, time.monotonic()):
            try:
                app.tasks[name]()
            except Exception:  # noqa: BLE001 - the loop must outlive one bad run
                log.exception("%s failed", name)
            finally:
                close_old_connections()


def cannot_listen(host: str, port: int) -> OSError | None:
    """Why `host:port` cannot be listened on, or None when it can. Bound and let go at once, with
    SO_REUSEADDR as Twisted's listener sets it, so only a port another socket holds is refused."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        return exc
    return None


def listen_failure_message(host: str, port: int, error: OSError | None) -> str:
    if error is None or error.errno == errno.EADDRINUSE:
        problem = f"port {port} is already in use (stop what is using it, or pick another port)"
    else:
        problem = f"cannot listen on port {port} ({error.strerror or error}); pick another port"
    return f"cannot serve on {host}:{port}: {problem}, e.g. make demo PORT=8001"


class Command(BaseCommand):
    help = "Serve the console with an in-process worker and sweeper (the embedded default)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args: Any, **options: Any) -> None:


        if not settings.CELERY_BROKER_URL.startswith("memory://"):
            raise CommandError("serve_embedded runs the in-process worker on memory://; use `make serve` with a broker")
        host, port = options["host"], options["port"]
        # Before anything starts or is announced: daphne only logs a listen failure and returns,
        # which exited 0 after "Steward is serving" had been printed.
        error = cannot_listen(host, port)
        if error is not None:
            raise CommandError(listen_failure_message(host, port, error))
        stop = threading.Event()
        sweeper = threading.Thread(
            target=periodic_loop, args=(stop,), name="sweeper", daemon=True
        )
        sweeper.start()
        application = get_default_application()
        with start_worker(app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=30, loglevel="WARNING"):
            self.stdout.write(f"Steward is serving http://{host}:{port} (worker and sweeper in-process)")
            server = Server(
                application=application,
                endpoints=build_endpoint_description_strings(host=host, port=port),
                signal_handlers=True,
            )
            try:
                server.run()
            finally:
                stop.set()
            # Taken between the check and the listen: still not a success.
            if not server.listening_addresses:
                raise CommandError(listen_failure_message(host, port, None))
