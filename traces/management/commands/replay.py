"""`manage.py replay RUN_ID`: queue a replay of a run; with --wait, run it here and diff it."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.engine import runtime
from agents.engine.models import Run
from console.kernel.errors import StewardError
from console.kernel.pages import error_text
from traces.inspection.diff import diff_runs
from traces.inspection.replay import MODES, replay
from traces.recording.models import Span


def divergence_line(diff: dict[str, Any]) -> str:
    """The diff in one line: "first divergence at row R: step S kind NAME" or "no divergence"."""
    index = diff["first_divergence"]
    if index is None:
        return "no divergence"
    row = diff["rows"][index]
    return f"first divergence at row {index + 1}: step {row['step']} {row['kind']} {row['name']}"


class Command(BaseCommand):
    help = (
        "Replay a run as a new run (recorded, live or mixed, from any step, optionally with the "
        "state edited there). Prints the new run's id; with --wait this process runs it to the end, "
        "then prints its status and how it differs from the original."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("run_id", help="The run to replay")
        parser.add_argument("--from-step", type=int, default=None, help="Replay from this step (default: the start)")
        parser.add_argument("--mode", default="recorded", help=f"{', '.join(MODES)} (default: recorded)")
        parser.add_argument("--live-from-step", type=int, default=None, help="With --mode mixed: live from this step on")
        parser.add_argument("--state-patch", default=None, help="State keys to set at --from-step, as a JSON object")
        parser.add_argument(
            "--prompt", action="append", default=None, metavar="NAME=VERSION",
            help="Use this version of a prompt instead of the one the run pinned (repeatable)",
        )
        parser.add_argument("--model", default=None, help="Replay with another model, e.g. openai:gpt-4o-mini")
        parser.add_argument("--user", default=None, help="Replay as this user (audited)")
        parser.add_argument("--wait", action="store_true", help="Run the replay here until it finishes")
        parser.add_argument("--timeout", type=float, default=3600, help="With --wait: give up after this many seconds")

    def handle(self, *args: Any, **options: Any) -> None:
        prompt_versions = self._prompt_versions(options.get("prompt") or [])
        original = self._original(options["run_id"])
        patch = self._patch(options.get("state_patch"))
        user = self._user(options.get("user"))
        try:
            run = replay(
                original, user, from_step=options.get("from_step"), mode=options.get("mode") or "recorded",
                live_from_step=options.get("live_from_step"), state_patch=patch,
                prompt_versions=prompt_versions or None, model=options.get("model"),
            )
        except StewardError as exc:
            raise CommandError(error_text(exc.detail)) from None
        self.stdout.write(f"replay {run.id} queued (of run {original.id})")
        if not options.get("wait"):
            return
        run = self._wait(run, options.get("timeout") or 3600)
        self.stdout.write(f"run {run.id} {run.status}")
        if run.status == Run.Status.FAILED and run.error:
            self.stdout.write(f"error: {run.error}")
        original.refresh_from_db()
        self.stdout.write(divergence_line(diff_runs(original, run)))

    def _prompt_versions(self, values: list[str]) -> dict[str, int]:
        chosen: dict[str, int] = {}
        for value in values:
            name, _, number = value.partition("=")
            if not name or not number.strip().isdigit():
                raise CommandError(f"--prompt {value!r}: use NAME=VERSION, e.g. refund_system=3")
            chosen[name.strip()] = int(number)
        return chosen

    def _original(self, raw: str) -> Run:
        try:
            run_id = uuid.UUID(raw)
        except ValueError:
            raise CommandError(f"{raw!r} is not a run id") from None
        run = Run.objects.select_related("agent").filter(id=run_id).first()
        if run is None:
            raise CommandError(f"no run {run_id}")
        return run

    def _patch(self, raw: str | None) -> dict[str, Any] | None:
        if raw is None:
            return None
        try:
            patch = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise CommandError(f"--state-patch is not valid JSON: {exc}") from None
        if not isinstance(patch, dict):
            raise CommandError("--state-patch must be a JSON object of state keys and their new values")
        return patch

    def _user(self, username: str | None) -> Any:
        if not username:
            return None
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        return user

    def _wait(self, run: Run, timeout: float) -> Run:
        """Run the replay in this process, printing each node span as it appears."""
        deadline = time.monotonic() + timeout
        announced_wait = False
        last_seq = -1
        while time.monotonic() < deadline:
            run.refresh_from_db()
            last_seq = self._progress(run, last_seq)
            if run.status == Run.Status.QUEUED:
                announced_wait = False
                runtime.execute(run.id)
                continue
            if run.is_finished:
                return run
            if run.status == Run.Status.WAITING and not announced_wait:
                pending = list(run.approval_requests.filter(status="pending").values_list("id", flat=True))
                self.stdout.write(
                    f"run {run.id} waiting for approval: {', '.join(map(str, pending)) or 'none pending yet'}"
                    " (decide in the console or the API; this command goes on once it is decided)"
                )
                announced_wait = True
            time.sleep(0.5)
        raise CommandError(f"run {run.id} still {run.status} after {timeout} s")

    def _progress(self, run: Run, last_seq: int) -> int:
        """Print "step N node NAME status" for the node spans recorded since `last_seq`."""
        spans = Span.objects.filter(run=run, kind=Span.Kind.NODE, seq__gt=last_seq).order_by("seq")
        for seq, step, name, status in spans.values_list("seq", "step", "name", "status"):
            self.stdout.write(f"step {step if step is not None else '-'} node {name} {status}")
            last_seq = seq
        return last_seq
