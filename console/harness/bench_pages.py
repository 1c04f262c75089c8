"""The p4 page timings of `manage.py bench` (and `manage.py bench_pages`): the console's busiest
pages at volume, over ASGI, as a logged-in person gets them.

On a database seeded by console/harness/volume_seed.py, it starts daphne in a child process
(DEBUG off, the same database, a pool of two connections), logs in through the login page (a
real session and CSRF token) and times, from the request sent to the last byte read, over one
kept-alive connection:

- `p4_runs_html`: `/runs/` with no filter and with a dozen filter combinations and sorts, each
  followed `depth` pages deep through the page's own "Next page" link (keyset cursor);
- `p4_run_page_2000`: the page of the seed's 2,000-span run (the first screen the server sends);
- `p4_inbox_html_10k`: the reviewer's inbox with the seed's 10,000 pending requests, plain and per
  queue, agent and due filter, following its "next" link where it has one.

Each walk is done `rounds` times after one untimed round (the server process's first requests
pay its imports and connection). Every response must be 200 and must not be the login page.
"""

from __future__ import annotations

import html
import http.client
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone

from console.harness.chaos_instances import free_port
from console.harness.volume_seed import PENDING_QUEUE, SEED_USERS, Volume, big_run_of
from console.kernel.roles import ENGINEERS, REVIEWERS
from console.kernel.sealing import VALUES_KEY_PURPOSE
from console.kernel.statistics import percentile

__all__ = ["BenchPagesError", "PageTimings", "measure_pages", "p4_lines"]

USERNAME = "bench-pages"
# "Next page" on the runs list (templates/agents/run_list.html); rel="next" on any other list.
NEXT_LINK = re.compile(r"<a\s[^>]*(?:id=\"next-page\"|rel=\"next\")[^>]*>", re.IGNORECASE)
HREF = re.compile(r"href=\"([^\"]*)\"")


class BenchPagesError(RuntimeError):
    """A page did not answer as it should: its timing would mean nothing."""


@dataclass
class PageTimings:
    """Milliseconds of every timed GET of one group, and the largest body."""

    name: str
    ms: list[float] = field(default_factory=list)
    largest: int = 0
    # The server process's CPU seconds during these GETs (from /proc; 10 ms ticks, so only the
    # mean per GET means something): what a GET costs the server whatever the machine's load.
    server_cpu_s: float = 0.0
    pages: set[str] = field(default_factory=set)

    @property
    def p50(self) -> float:
        return percentile(self.ms, 0.5) or 0.0

    @property
    def p95(self) -> float:
        return percentile(self.ms, 0.95) or 0.0

    @property
    def server_cpu_ms(self) -> float:
        return self.server_cpu_s * 1000 / len(self.ms) if self.ms else 0.0

    def add(self, path: str, ms: float, body: str, cpu_s: float) -> None:
        self.ms.append(ms)
        self.largest = max(self.largest, len(body))
        self.pages.add(path)
        self.server_cpu_s += cpu_s


def _values_key() -> str:
    """The key this process seals values with, for the server's STEWARD_ENCRYPTION_KEY: with
    DEBUG off the server needs its own SECRET_KEY, and the seed's sealed values must still open."""
    import base64

    configured = getattr(settings, "STEWARD_ENCRYPTION_KEY", "") or ""
    if configured.strip():
        return configured
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=VALUES_KEY_PURPOSE).derive(settings.SECRET_KEY.encode())
    return base64.b64encode(derived).decode()


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@contextmanager
def asgi_server(log: Path) -> Iterator[tuple[str, int, int]]:
    """Daphne on this process's database with DEBUG off; yields (host, port, its pid)."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "console.settings",
        "DATABASE_URL": _database_url(),
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "STEWARD_ENCRYPTION_KEY": _values_key(),
        # Plain HTTP on loopback: no redirect to HTTPS, cookies without Secure.
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "STEWARD_DB_CONNECTIONS": "2",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    root = Path(settings.BASE_DIR)
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "console.asgi:application"],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise BenchPagesError(f"daphne exited with {server.returncode}: {log.read_text()[-2000:]}")
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                probe.request("GET", "/healthz")
                probe.getresponse().read()
                probe.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise BenchPagesError("daphne did not answer /healthz within a minute") from None
                time.sleep(0.2)
        yield "127.0.0.1", port, server.pid
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


class Browser:
    """One kept-alive HTTP connection with the session's cookies, as a browser tab holds them."""

    def __init__(self, host: str, port: int, server_pid: int) -> None:
        self.host, self.port, self.server_pid = host, port, server_pid
        self.cookies: dict[str, str] = {}
        self.conn = http.client.HTTPConnection(host, port, timeout=60)

    def _send(self, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None) -> tuple[int, str, str]:
        all_headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()), **(headers or {})}
        self.conn.request(method, path, body=body, headers=all_headers)
        response = self.conn.getresponse()
        content = response.read().decode()
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response.status, response.headers.get("Location", ""), content

    def login(self, username: str, password: str) -> None:
        status, _, page = self._send("GET", "/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if status != 200 or token is None:
            raise BenchPagesError(f"GET /login/: {status}, no CSRF token")
        body = urlencode({"csrfmiddlewaretoken": token.group(1), "username": username, "password": password})
        origin = f"http://{self.host}:{self.port}"
        status, location, _ = self._send(
            "POST", "/login/", body,
            {"Content-Type": "application/x-www-form-urlencoded", "Origin": origin, "Referer": origin + "/login/"},
        )  # fmt: skip
        if status != 302 or "sessionid" not in self.cookies:
            raise BenchPagesError(f"logging in as {username} failed: {status} to {location!r}")

    def server_cpu(self) -> float:
        """The server process's CPU seconds so far (user + system)."""
        try:
            fields = Path(f"/proc/{self.server_pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # not Linux: no figure
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def get(self, path: str) -> tuple[float, str, float]:
        """(milliseconds from sending the request to the last byte, body, server CPU seconds)."""
        cpu = self.server_cpu()
        started = time.perf_counter()
        status, location, body = self._send("GET", path)
        elapsed = (time.perf_counter() - started) * 1000
        cpu = self.server_cpu() - cpu
        if status != 200:
            raise BenchPagesError(f"GET {path}: {status} {location} {body[:300]!r}")
        if 'name="csrfmiddlewaretoken"' in body and 'id="id_password"' in body:
            raise BenchPagesError(f"GET {path}: the login page (session lost?)")
        return elapsed, body, cpu


def _next_link(body: str) -> str | None:
    tag = NEXT_LINK.search(body)
    if tag is None:
        return None
    href = HREF.search(tag.group(0))
    return html.unescape(href.group(1)) if href else None


def _walk(browser: Browser, start: str, depth: int, into: PageTimings | None) -> int:
    """GET `start` and follow its next links `depth` pages in all; returns the pages seen."""
    path: str | None = start
    seen = 0
    while path is not None and seen < depth:
        ms, body, cpu = browser.get(path)
        seen += 1
        if into is not None:
            into.add(path, ms, body, cpu)
        link = _next_link(body)
        if link is None:
            break
        # The links are relative to the list ("?cursor=…").
        path = start.split("?", 1)[0] + link if link.startswith("?") else link
    return seen


def runs_list_walks() -> list[str]:
    since = (timezone.now() - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [
        "/runs/",
        "/runs/?status=failed",
        "/runs/?status=succeeded&agent=refund",
        "/runs/?agent=order_summary",
        "/runs/?q=umbrella",
        "/runs/?q=courier&status=succeeded",
        "/runs/?tag=vip",
        "/runs/?has_error=true&agent=stock_check",
        f"/runs/?started_by={SEED_USERS[1]}",
        "/runs/?model=claude-3-5-haiku-latest",
        "/runs/?waiting_approval=true",
        f"/runs/?since={since}&status=cancelled",
        "/runs/?sort=-cost",
        "/runs/?sort=-duration&agent=refund",
    ]


def inbox_walks() -> list[str]:
    return [
        "/approvals/",
        f"/approvals/?queue={PENDING_QUEUE}",
        "/approvals/?agent=refund",
        "/approvals/?due=overdue",
        "/approvals/?age=1h",
    ]


def _user() -> tuple[str, str]:
    """A person who reads runs and reviews the seed's queue (not an admin: the visible_to path)."""
    password = secrets.token_urlsafe(16)
    user, _ = get_user_model().objects.get_or_create(username=USERNAME)
    # Hashed with the server's default hasher by name: this process may run on test settings
    # (a fast hasher the server, on the normal settings, does not accept).
    user.password = make_password(password, hasher="pbkdf2_sha256")
    user.is_superuser = user.is_staff = False
    user.save()
    for name in (ENGINEERS, REVIEWERS):
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    return USERNAME, password


def measure_pages(volume: Volume, rounds: int, depth: int, run_page_repeat: int, log_dir: Path | None = None) -> list[PageTimings]:
    """Time the three groups on a seeded database (see the module docstring)."""
    big = big_run_of(volume)
    if big is None:
        raise BenchPagesError(f"the database is not seeded at {volume.label}: seed first")
    username, password = _user()
    runs, run_page, inbox = PageTimings("p4_runs_html"), PageTimings("p4_run_page_2000"), PageTimings("p4_inbox_html_10k")
    directory = log_dir or Path(tempfile.mkdtemp(prefix="bench-pages-"))
    with asgi_server(directory / "daphne.log") as (host, port, pid):
        browser = Browser(host, port, pid)
        browser.login(username, password)
        run_path = f"/runs/{big.id}/"
        for round_index in range(rounds + 1):
            timed = round_index > 0  # the first round warms the server process up
            for start in runs_list_walks():
                _walk(browser, start, depth, runs if timed else None)
            for _ in range(run_page_repeat if timed else 2):
                ms, body, cpu = browser.get(run_path)
                if timed:
                    run_page.add(run_path, ms, body, cpu)
            for start in inbox_walks():
                _walk(browser, start, depth, inbox if timed else None)
        browser.conn.close()
    return [runs, run_page, inbox]


def p4_lines(results: list[PageTimings]) -> list[str]:
    """The `name=value` lines `manage.py bench` prints."""
    return [f"{r.name}_p95_ms={r.p95:.1f}" for r in results]
