"""`manage.py bench_live`: span recorded → shown on an open run page, in milliseconds (p50, p95).

Needs the dev extra (playwright) and Debian's chromium. It serves the console in a child
process on this command's database (`serve_embedded`: in-process worker, in-memory broker and
channel layer), starts runs of the `bench_live` agent through the API, and watches each run's
page. See console/harness/bench_live.py for what is measured. Bench runs are deleted at the end.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.engine.models import Agent, Run
from console.harness.bench_live import BENCH_LIVE
from console.harness.chaos_instances import free_port
from console.harness.chromium import CHROMIUM, CHROMIUM_ARGS
from console.harness.live_latency import OBSERVER_JS, latencies
from console.kernel.models import ApiKey
from console.kernel.roles import ENGINEERS
from console.kernel.statistics import percentile
from traces.recording.models import Span

USERNAME = "bench-live"
ROOT = Path(settings.BASE_DIR)


def _wait_up(base: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CommandError(f"the console process exited with {process.returncode}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise CommandError("the console did not come up within a minute")


def _wait_in_page(page: Any, expression: str, timeout: float) -> None:
    """Poll `expression` in the page until it is true. Not Playwright's wait_for_function: that
    compiles its predicate in the page, and the console's CSP (no eval) refuses it."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise CommandError(f"the page never had {expression} within {timeout:.0f} s")
        time.sleep(0.01)


class Command(BaseCommand):
    help = "Time live updates: from a span recorded to its row in an open run page (p50, p95)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--runs", type=int, default=5, help="runs to watch (10 nodes, 20 spans each)")
        parser.add_argument("--step-ms", type=int, default=150, help="how long each node waits")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            # Imported here: playwright is a dev dependency, and the message below says so.
            from playwright.sync_api import sync_playwright
        except ImportError:
            raise CommandError("playwright is missing: pip install -e '.[dev]'") from None
        if not Path(CHROMIUM).exists():
            raise CommandError(f"{CHROMIUM} is missing: apt-get install chromium")
        os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        user, password, key = self._user()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "CELERY_BROKER_URL": "memory://localhost/",
            "CHANNEL_LAYER_URL": "",
            "STEWARD_AGENT_MODULES": ",".join(
                m for m in [os.environ.get("STEWARD_AGENT_MODULES", ""), "console.harness.bench_live"] if m
            ),
        }
        env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        server = subprocess.Popen(
            [sys.executable, "manage.py", "serve_embedded", "--port", str(port)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        figures: list[float] = []
        try:
            _wait_up(base, server)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = self._login(browser, base, password)
                for index in range(options["runs"] + 1):
                    measured = self._watch_one(page, base, key, options["step_ms"])
                    if index == 0:
                        continue  # the first run warms the server up (imports, connections)
                    figures += measured
                    self.stdout.write(f"run {index}: {len(measured)} spans, max {max(measured, default=0):.1f} ms")
                browser.close()
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
            self._cleanup(user)
        if not figures:
            raise CommandError("no span was seen live: is the run page's websocket working?")
        self.stdout.write(f"spans={len(figures)}")
        self.stdout.write(f"live_update_p50_ms={percentile(figures, 0.5):.1f}")
        self.stdout.write(f"live_update_p95_ms={percentile(figures, 0.95):.1f}")
        self.stdout.write(f"live_update_max_ms={max(figures):.1f}")

    def _user(self) -> tuple[Any, str, str]:

        password = secrets.token_urlsafe(16)
        user, _ = get_user_model().objects.get_or_create(username=USERNAME)
        user.set_password(password)
        user.save()
        group, _ = Group.objects.get_or_create(name=ENGINEERS)
        user.groups.add(group)
        _, raw = ApiKey.issue(user, name="bench_live")
        return user, password, raw

    def _login(self, browser: Any, base: str, password: str) -> Any:
        context = browser.new_context()
        context.add_init_script(OBSERVER_JS)
        page = context.new_page()
        page.goto(base + "/login/")
        page.fill("#id_username", USERNAME)
        page.fill("#id_password", password)
        page.click("main button[type=submit]")
        page.wait_for_load_state()
        return page

    def _watch_one(self, page: Any, base: str, key: str, step_ms: int) -> list[float]:

        request = urllib.request.Request(
            base + "/api/runs",
            data=json.dumps({"agent": BENCH_LIVE, "input": {"step_ms": step_ms}}).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            run_id = json.loads(response.read())["id"]
        page.goto(f"{base}/runs/{run_id}/")
        _wait_in_page(page, "window.__wsOpen !== null", 30)
        page.locator("#run-status", has_text="succeeded").first.wait_for(timeout=120_000)
        total = Span.objects.filter(run_id=run_id).count()
        _wait_in_page(page, f"Object.keys(window.__spanSeen).length >= {total}", 30)
        seen: dict[str, float] = page.evaluate("window.__spanSeen")
        opened: float = page.evaluate("window.__wsOpen")
        spans = [
            (seq, started.timestamp() * 1000 + latency)
            for seq, started, latency in Span.objects.filter(run_id=run_id).values_list("seq", "started_at", "latency_ms")
        ]
        # Spans finished before the socket opened (plus the catch-up render) were not live.
        return latencies(spans, seen, after_ms=opened + 50)

    def _cleanup(self, user: Any) -> None:

        Run.objects.filter(agent__key=BENCH_LIVE).delete()
        Agent.objects.filter(key=BENCH_LIVE).delete()
        # The user stays (the append-only audit log may name it); its keys go.
        ApiKey.objects.filter(user=user, name="bench_live").delete()
