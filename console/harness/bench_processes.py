"""The processes `manage.py bench` measures: Celery workers and a daphne web server, each a
child process on the bench's database, broker and channel layer, with DEBUG off.

The bench process itself only starts runs, sends HTTP requests and reads the database: no run
executes in it, so what is timed is the production shape (web → broker → worker).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import connection

from console.harness.chaos_instances import ROOT, free_port

__all__ = ["BenchProcessError", "Daphne", "Worker", "child_environment", "force_debug_off", "load_average"]

# The bench agents' module: the worker must register them too.
BENCH_AGENTS = "console.harness.bench"


class BenchProcessError(RuntimeError):
    """A worker or the web server did not start, or died."""


def load_average() -> float:
    """The machine's 1-minute load average."""
    return os.getloadavg()[0]


def force_debug_off() -> dict[str, str]:
    """DEBUG off in this process and the environment its children get.

    DEBUG=True makes Django keep every query: it would slow the Steward side only. With DEBUG off
    the settings refuse the embedded demo key, so a bench key is set here and in this process
    alike (the worker opens what the bench process seals: run inputs, checkpoints).
    """
    settings.DEBUG = False
    key = settings.SECRET_KEY
    if key.startswith("steward-embedded"):
        key = "bench-" + secrets.token_urlsafe(32)
        settings.SECRET_KEY = key
    db = connection.settings_dict
    database_url = make_conninfo_url(db)
    modules = [m for m in os.environ.get("STEWARD_AGENT_MODULES", "").split(",") if m]
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DJANGO_ALLOW_ASYNC_UNSAFE", "PYTEST_CURRENT_TEST")},
        "DEBUG": "0",
        # Production settings, not a test run's: the children are the production processes.
        "DJANGO_SETTINGS_MODULE": "console.settings",
        # The bench's own database and broker (a test database included), whatever the environment said.
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": str(settings.CELERY_BROKER_URL),
        "CHANNEL_LAYER_URL": str(getattr(settings, "CHANNEL_LAYER_URL", "") or ""),
        "SECRET_KEY": key,
        # Plain HTTP on 127.0.0.1: no redirect to HTTPS, cookies usable without TLS.
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        # The per-user budget for run starts and decisions would refuse p3's burst of runs (429):
        # a throughput bench measures the path, not the limit.
        "STEWARD_RATE_LIMIT_PER_MINUTE": "1000000",
        "STEWARD_LOG_FORMAT": "console",
        "LOG_LEVEL": "WARNING",
        "STEWARD_AGENT_MODULES": ",".join([*modules, BENCH_AGENTS] if BENCH_AGENTS not in modules else modules),
    }
    return env


@contextmanager
def child_environment(env: dict[str, str]) -> Iterator[None]:
    """os.environ as the children get it, for commands that start processes of their own
    (`bench_live`), then back as it was."""
    saved = dict(os.environ)
    os.environ.update({k: env[k] for k in ("DEBUG", "SECRET_KEY", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE")})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def make_conninfo_url(db: dict[str, Any]) -> str:
    """A DATABASE_URL for Django's settings dict (Postgres)."""
    user = quote(str(db.get("USER") or ""))
    password = quote(str(db.get("PASSWORD") or ""))
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{quote(str(db['NAME']))}"


class _Child:
    def __init__(self, name: str, command: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.log = Path(tempfile.gettempdir()) / f"steward-bench-{name}-{os.getpid()}.log"
        with open(self.log, "wb") as log_file:
            self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise BenchProcessError(f"{self.name} exited with {self.proc.returncode}: see {self.log}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Worker(_Child):
    """`celery worker`, prefork with `concurrency` pool processes, consuming the default queue."""

    def __init__(self, env: dict[str, str], concurrency: int = 1) -> None:
        self.node = f"bench{concurrency}-{os.getpid()}@steward"
        super().__init__(
            f"worker{concurrency}",
            [
                sys.executable, "-m", "celery", "-A", "console", "worker", "--pool=prefork",
                f"--concurrency={concurrency}", "--without-gossip", "--without-mingle", "--without-heartbeat",
                "-n", self.node, "-l", "WARNING",
            ],
            env,
        )

    def wait_ready(self, timeout: float = 120) -> None:
        """Until the worker answers a ping (it then consumes from the broker)."""
        from console.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            replies = app.control.ping(destination=[self.node], timeout=0.5) or []
            if any(self.node in reply for reply in replies):
                return
        raise BenchProcessError(f"{self.name} did not answer within {timeout:.0f} s: see {self.log}")


class Daphne(_Child):
    """The console's ASGI app under daphne on a free port, as `make web` serves it."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        super().__init__(
            "daphne",
            [sys.executable, "-m", "daphne", "-e", f"tcp:port={self.port}:interface=127.0.0.1:backlog=1024", "console.asgi:application"],
            env,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise BenchProcessError(f"daphne did not answer /healthz within {timeout:.0f} s: see {self.log}")
