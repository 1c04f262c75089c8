"""Private Postgres and Redis servers for `manage.py chaos` and the fault tests.

Faults restart and kill these, never the machine's shared services: each lives in a temporary
folder, on a free port, bound to 127.0.0.1. Postgres comes from the Debian binaries under
/usr/lib/postgresql/<version>/bin (or `initdb` on PATH); it refuses to run as root, so when we
are root its commands run as the `postgres` OS user through `runuser`. Redis runs with nothing
persisted (`--save "" --appendonly no`): a restart loses every message, on purpose.

`Instances` bundles one of each, with the environment that points Steward at them, and is
saved to a small JSON file so another process (the chaos driver, a test) can restart them.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "CHAOS_SETTINGS",
    "Instances",
    "MissingBinaries",
    "PrivatePostgres",
    "PrivateRedis",
    "driver_env",
    "free_port",
    "postgres_bin_dir",
]

ROOT = Path(__file__).resolve().parents[2]
DATABASE_NAME = "steward_chaos"
# Postgres' own user, which runs the server when we are root.
POSTGRES_OS_USER = "postgres"
# Short engine timings, so a fault costs seconds, not the production minutes. The driver and
# every worker get the same values (the sweeper runs in the driver).
CHAOS_SETTINGS = {
    # A killed worker's run is re-queued once this has passed since its last renewal.
    "STEWARD_LEASE_SECONDS": "3",
    # A queued run whose message was lost (Redis restart) is sent again after this.
    "STEWARD_REQUEUE_SECONDS": "2",
    # Random kills may hit one run more than once; the default 3 is for runs that crash a worker.
    "STEWARD_MAX_ATTEMPTS": "6",
    "STEWARD_LOG_FORMAT": "console",
    "LOG_LEVEL": "WARNING",
    # The fan-out run kind's agent (console/harness/chaos_fanout.py), in the driver and every worker.
    "STEWARD_AGENT_MODULES": "console.harness.chaos_fanout",
}


class MissingBinaries(RuntimeError):
    """Postgres or Redis server binaries are not installed here."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} within {timeout:.0f} s")


def postgres_bin_dir() -> Path:
    """The newest Debian Postgres binaries, else the folder of `initdb` on PATH."""
    candidates = sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if Path(p, "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1]
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise MissingBinaries("no initdb: install the postgresql package")


def _redis_server() -> str:
    found = shutil.which("redis-server")
    if not found:
        raise MissingBinaries("no redis-server: install the redis-server package")
    return found


def _as_root() -> bool:
    return os.geteuid() == 0


@dataclass
class PrivatePostgres:
    """One Postgres cluster in `root`/data, listening on 127.0.0.1:`port`, trust auth."""

    root: str
    port: int
    # The server's connection limit; the burst scenario restarts it with a low one, so that a
    # burst of requests can exhaust it for real.
    max_connections: int = 200

    @property
    def data(self) -> Path:
        return Path(self.root) / "data"

    def url(self, database: str = DATABASE_NAME) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _command(self, *args: str) -> list[str]:
        # Postgres will not run as root: hand its commands to its own OS user.
        if _as_root():
            return ["runuser", "-u", POSTGRES_OS_USER, "--", *args]
        return list(args)

    def _run(self, *args: str, timeout: float = 60) -> None:
        result = subprocess.run(
            self._command(*args), capture_output=True, text=True, timeout=timeout, cwd=self.root
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")

    @classmethod
    def create(cls, parent: Path | None = None) -> PrivatePostgres:
        """initdb a new cluster in a temporary folder and start it on a free port."""
        bin_dir = postgres_bin_dir()
        root = tempfile.mkdtemp(prefix="steward-pg-", dir=parent)
        if _as_root():
            shutil.chown(root, user=POSTGRES_OS_USER, group=POSTGRES_OS_USER)
        server = cls(root=root, port=free_port())
        server._run(
            str(bin_dir / "initdb"), "-D", str(server.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--no-sync", "--no-instructions",
        )
        server.start()
        return server

    def start(self) -> None:
        # fsync off: the machine itself never crashes here, only the server (stop -m immediate),
        # and a committed transaction's WAL is in the OS cache, so nothing committed is lost.
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c full_page_writes=off -c max_connections={self.max_connections} -c shared_buffers=32MB"
        )
        self._run(
            str(postgres_bin_dir() / "pg_ctl"), "-D", str(self.data), "-l", str(Path(self.root) / "server.log"),
            "-o", options, "-w", "-t", "60", "start",
        )
        _wait(lambda: port_open(self.port), 30, f"Postgres on port {self.port} did not answer")

    def stop(self, mode: str = "fast") -> None:
        """`fast` rolls back and disconnects everyone; `immediate` is a crash (WAL replay on start)."""
        self._run(str(postgres_bin_dir() / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists() and port_open(self.port)

    def restart_with(self, max_connections: int) -> None:
        """Stop (disconnecting everyone) and start again with this connection limit."""
        self.stop("fast")
        self.max_connections = max_connections
        self.start()

    def create_database(self, name: str = DATABASE_NAME, template: str = "template1") -> None:
        self._run(
            str(postgres_bin_dir() / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
            "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", f'CREATE DATABASE "{name}" TEMPLATE "{template}"',
        )

    def destroy(self) -> None:
        if self.running():
            try:
                self.stop("immediate")
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class PrivateRedis:
    """One redis-server on 127.0.0.1:`port` that persists nothing; its files live in `root`."""

    root: str
    port: int

    @property
    def pidfile(self) -> Path:
        return Path(self.root) / "redis.pid"

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    @classmethod
    def create(cls, parent: Path | None = None) -> PrivateRedis:
        server = cls(root=tempfile.mkdtemp(prefix="steward-redis-", dir=parent), port=free_port())
        server.start()
        return server

    def start(self) -> None:
        subprocess.run(
            [
                _redis_server(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.root, "--daemonize", "yes",
                "--pidfile", str(self.pidfile), "--logfile", str(Path(self.root) / "redis.log"),
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        _wait(self._answers, 30, f"Redis on port {self.port} did not answer")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def _pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def kill(self) -> None:
        """SIGKILL: every message, group and counter is gone (nothing is persisted)."""
        pid = self._pid()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.pidfile.unlink(missing_ok=True)
        _wait(lambda: not port_open(self.port), 30, f"Redis on port {self.port} did not stop")

    def running(self) -> bool:
        return self._answers()

    def destroy(self) -> None:
        if self._pid() is not None or port_open(self.port):
            try:
                self.kill()
            except RuntimeError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class Instances:
    """A private Postgres and Redis in one temporary folder, and how Steward processes reach them."""

    root: str
    postgres: PrivatePostgres
    redis: PrivateRedis

    @classmethod
    def start(cls, parent: Path | None = None) -> Instances:
        root = Path(tempfile.mkdtemp(prefix="steward-chaos-", dir=parent))
        root.chmod(0o755)  # the postgres OS user must reach its own folder inside
        try:
            postgres = PrivatePostgres.create(root)
            try:
                redis = PrivateRedis.create(root)
            except BaseException:
                postgres.destroy()
                raise
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return cls(str(root), postgres, redis)

    @property
    def state_file(self) -> Path:
        return Path(self.root) / "instances.json"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a Steward process (worker, driver, migrate) on these instances."""
        env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_ALLOW_ASYNC_UNSAFE", "PYTEST_CURRENT_TEST")}
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "console.settings",
                "DATABASE_URL": self.postgres.url(),
                "CELERY_BROKER_URL": self.redis.url(0),
                "CHANNEL_LAYER_URL": self.redis.url(1),
                "STEWARD_VAR_DIR": str(Path(self.root) / "var"),
                **extra,
            }
        )
        return env

    def migrate(self) -> None:
        """Create the database and migrate it (once, before any scenario)."""
        self.postgres.create_database()
        result = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            raise RuntimeError(f"migrate failed: {result.stderr[-3000:]}")

    def save(self) -> Path:
        """Write where the instances are, for `manage.py chaos --instances`; the file's path."""
        self.state_file.write_text(
            json.dumps({"root": self.root, "postgres": asdict(self.postgres), "redis": asdict(self.redis)})
        )
        return self.state_file

    @classmethod
    def load(cls, path: Path) -> Instances:
        data = json.loads(path.read_text())
        return cls(data["root"], PrivatePostgres(**data["postgres"]), PrivateRedis(**data["redis"]))

    def destroy(self) -> None:
        self.redis.destroy()
        self.postgres.destroy()
        shutil.rmtree(self.root, ignore_errors=True)


def driver_env(instances: Instances, **extra: str) -> dict[str, str]:
    """The environment of the chaos driver (and so of its workers) on private instances."""
    return instances.env(**CHAOS_SETTINGS, **extra)
