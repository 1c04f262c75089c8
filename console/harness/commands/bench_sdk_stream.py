"""`manage.py bench_sdk_stream`: LangGraph SDK streaming latency on this command's settings
(daphne and a Celery worker as child processes): from `runs.stream` to the first part the worker
produced, and to the first model token, in milliseconds (p50, p95, max). See
console/harness/sdk_stream_bench.py. Bench runs are deleted at the end."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.engine.models import Agent, Run
from console.harness.sdk_stream_bench import BENCH_SDK_STREAM, serve_and_measure, summary
from console.kernel.models import ApiKey
from console.kernel.roles import ENGINEERS

USERNAME = "bench-sdk-stream"


class Command(BaseCommand):
    help = "Time LangGraph SDK streaming: runs.stream → first worker part, → first token (p50, p95)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--runs", type=int, default=30, help="streamed runs to time (after 3 warm-up runs)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.EMBEDDED:
            raise CommandError(
                "needs a shared broker: set DATABASE_URL, CELERY_BROKER_URL and CHANNEL_LAYER_URL (Redis)"
            )
        user, _ = get_user_model().objects.get_or_create(username=USERNAME)
        group, _ = Group.objects.get_or_create(name=ENGINEERS)
        user.groups.add(group)
        _, key = ApiKey.issue(user, name=USERNAME)
        try:
            figures = serve_and_measure(key, options["runs"])
        finally:
            Run.objects.filter(agent__key=BENCH_SDK_STREAM).delete()
            Agent.objects.filter(key=BENCH_SDK_STREAM).delete()
            ApiKey.objects.filter(user=user, name=USERNAME).delete()
        if not figures["first_event"]:
            raise CommandError("no streamed run was timed: see the steward-bench-*.log files in the temp directory")
        self.stdout.write(f"runs={len(figures['first_event'])}")
        for name, value in summary(figures).items():
            self.stdout.write(f"sdk_stream_{name}={value}")
