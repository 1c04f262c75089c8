"""The embedded mode (`make demo`'s settings: SQLite, the memory broker, the worker a thread of
the server) in a real `manage.py serve_embedded` process, prepared and stopped for a test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.processes import (
    free_port,
    fresh_django,
    fresh_env,
    start_process,
    stop_process,
    wait_until_up,
)

__all__ = ["embedded_env", "embedded_server", "manage"]


def embedded_env(var_dir: Path, **values: str) -> dict[str, str]:
    """This environment without the services' URLs (so the embedded default applies), its files
    in `var_dir`, no test agents unless `values` name some."""
    return fresh_env(
        without=("DATABASE_URL", "CELERY_BROKER_URL", "CHANNEL_LAYER_URL", "STEWARD_RUN_EVENTS_URL"),
        STEWARD_VAR_DIR=str(var_dir),
        **{"STEWARD_AGENT_MODULES": "", **values},
    )


def manage(env: dict[str, str], *args: str) -> str:
    """`manage.py` in a fresh process; its output (it must succeed)."""
    done = fresh_django("manage.py", *args, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


@contextmanager
def embedded_server(env: dict[str, str], log: Path) -> Iterator[str]:
    """The server on a free port, up, for the `with` block; its base URL."""
    port = free_port()
    server = start_process(["manage.py", "serve_embedded", "--port", str(port)], env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, server)
        yield base
    finally:
        stop_process(server, grace=20)
