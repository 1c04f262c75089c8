from __future__ import annotations

import json
import time
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.engine import runtime
from agents.engine.models import Run
from agents.engine.services import start_run
from console.kernel.errors import StewardError


class Command(BaseCommand):
    help = (
        "Start a run. Beside a running demo (or workers) it is picked up there; with --wait this "
        "process runs it to the end itself, waiting for approvals when it reaches a gate."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("agent")
        parser.add_argument("--input", default="{}", help="The run's input as JSON")
        parser.add_argument("--user", default=None, help="Start the run as this user")
        parser.add_argument("--wait", action="store_true", help="Run it here until it finishes")
        parser.add_argument("--timeout", type=float, default=3600, help="With --wait: give up after this many seconds")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            data = json.loads(options["input"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--input is not valid JSON: {exc}") from None
        user = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"no user named {options['user']!r}")
        try:
            run = start_run(options["agent"], data, user)
        except StewardError as exc:
            raise CommandError(json.dumps(exc.detail) if not isinstance(exc.detail, str) else exc.detail) from None
        self.stdout.write(f"run {run.id} queued")
        if not options["wait"]:
            return
        deadline = time.monotonic() + options["timeout"]
        announced_wait = False
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if run.status == Run.Status.QUEUED:
                runtime.execute(run.id)
                continue
            if run.is_finished:
                self.stdout.write(f"run {run.id} {run.status}")
                self.stdout.write(json.dumps(run.output if run.status == Run.Status.SUCCEEDED else run.error))
                return
            if run.status == Run.Status.WAITING and not announced_wait:
                pending = list(run.approval_requests.filter(status="pending").values_list("id", flat=True))
                self.stdout.write(f"run {run.id} waiting for approval: {', '.join(map(str, pending))}")
                announced_wait = True
            time.sleep(0.5)
        raise CommandError(f"run {run.id} still {run.status} after {options['timeout']} s")
