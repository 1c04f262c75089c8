"""Other processes on this project: a fresh Django process that runs code or a management
command and ends, servers and workers that keep running, and their environment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]  # the project root, where manage.py is


# A Celery worker in its own process (for start_process): one task at a time, in the process itself,
# so a test can kill -9 it; no gossip, mingle or heartbeat, which only slow a test's start.
WORKER_PROCESS = [
    "-m", "celery", "-A", "console", "worker", "--pool=solo", "--concurrency=1",
    "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh_env(*, without: Iterable[str] = (), **values: str) -> dict[str, str]:
    """This process's environment without the variables in `without`, on the normal settings
    (not the tests'), with `values` set."""
    dropped = set(without)
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update({"DJANGO_SETTINGS_MODULE": "console.settings", **values})
    return env


def server_env(**extra: str) -> dict[str, str]:
    """Environment for a worker or server process on the test database, broker and layer."""
    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    return fresh_env(
        without=("DJANGO_ALLOW_ASYNC_UNSAFE",),
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        CHANNEL_LAYER_URL=settings.CHANNEL_LAYER_URL,
        STEWARD_AGENT_MODULES="tests.support.graphs",
        **extra,
    )


def fresh_django(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Python in a new process from the project root, to the end: `args` follow the interpreter
    (`"-c", code` or `"manage.py", command, ...`); settings are read anew from `env`."""
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def start_process(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A long-running Python process (server or worker) from the project root, its output in `log`."""
    with open(log, "wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop_process(process: subprocess.Popen[bytes], grace: float = 10) -> None:
    """Terminate the process; kill it if it has not exited after `grace` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(grace)


def wait_until_up(base: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Wait for `GET /healthz`; fail at once if the server process died."""

    def up() -> bool:
        assert process.poll() is None, f"server exited with {process.returncode}"
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1):
                return True
        except OSError:
            return False

    wait_for(up, timeout=timeout, interval=0.2)


class AsgiServers:
    """Daphne processes serving console.asgi on the test database, broker and layer, one per
    distinct environment, kept until `close`: starting one costs seconds (Django and the agents
    are imported anew), while a test only needs a server that runs its settings. Tests that share
    one share nothing else: each has its own rows (the database is emptied after each) and users."""

    def __init__(self, logs: Path) -> None:
        self._logs = logs
        self._running: dict[tuple[tuple[str, str], ...], tuple[str, subprocess.Popen[bytes]]] = {}

    def base(self, **extra: str) -> str:
        """The base URL of a server whose environment is `server_env(**extra)`, started if needed."""
        key = tuple(sorted(extra.items()))
        known = self._running.get(key)
        if known is not None and known[1].poll() is None:
            return known[0]
        port = free_port()
        server = start_process(
            ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "console.asgi:application"],
            server_env(**extra),
            self._logs / f"daphne-{port}.log",
        )
        base = f"http://127.0.0.1:{port}"
        self._running[key] = (base, server)
        wait_until_up(base, server)
        return base

    def close(self) -> None:
        for _, server in self._running.values():
            stop_process(server)
        self._running.clear()
