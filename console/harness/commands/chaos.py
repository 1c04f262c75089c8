"""`manage.py chaos`: kill workers, restart Postgres and Redis, drop live events; print what survived.

By default it starts its own private Postgres (initdb in a temporary folder, a free port) and
Redis (nothing persisted), migrates a database there, and runs itself again as the driver with
the environment pointing at them; the machine's own services are never touched. It exits
non-zero when a run is lost or failed, a recorded step is missing or doubled, a side effect
happened twice, or a page did not catch up. See console/harness/chaos.py for what each scenario does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from console.harness.chaos import SCENARIOS, ChaosOptions, Harness, ScenarioResult, report_lines, run_scenario
from console.harness.chaos_burst import BurstOptions, burst_report_lines, run_burst_scenario
from console.harness.chaos_instances import ROOT, Instances, MissingBinaries, driver_env
from console.harness.chaos_pages import run_channels_scenario
from console.kernel.arguments import positive


def _share(value: str) -> float:
    number = float(value)
    if not 0 <= number <= 1:
        raise ValueError("must be between 0 and 1")
    return number


def _seconds(value: str) -> float:
    number = float(value)
    if number < 0:
        raise ValueError("must not be negative")
    return number


class Command(BaseCommand):
    help = (
        "Inject faults into real Celery workers on a private Postgres and Redis (started here, on free "
        "ports) and print runs started/completed/failed, recovery times, lost spans, duplicate side "
        "effects and sweeper re-sends. Exits 1 if an invariant fails."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--runs", type=positive, default=50, help="runs per scenario (default 50)")
        parser.add_argument(
            "--scenario", choices=["all", *SCENARIOS], action="append",
            help="which faults (repeatable; default all)",
        )
        parser.add_argument("--workers", type=positive, default=2, help="worker processes (default 2)")
        parser.add_argument("--faults", type=positive, default=None, help="faults per scenario (default: kill one per 5 runs, restarts 2)")
        parser.add_argument(
            "--whole-worker-kills", type=_share, default=0.25,
            help="share of kills that take a whole worker instead of the pool process running the run (default 0.25)",
        )
        parser.add_argument("--down-seconds", type=_seconds, default=1.0, help="how long Postgres or Redis stays down")
        parser.add_argument("--pace", type=_seconds, default=0.15, help="seconds between run starts")
        parser.add_argument("--drop", type=_share, default=0.3, help="share of live events the pages lose (channels)")
        parser.add_argument("--burst", type=positive, default=200, help="concurrent run starts of the burst scenario (default 200)")
        parser.add_argument("--reads", type=positive, default=40, help="concurrent reads after the burst (default 40)")
        parser.add_argument(
            "--max-connections", type=positive, default=40,
            help="Postgres max_connections during the burst scenario (default 40)",
        )
        parser.add_argument(
            "--web-connections", type=positive, default=8,
            help="the burst's web process's connection pool, STEWARD_DB_CONNECTIONS (default 8)",
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--timeout", type=_seconds, default=240.0, help="seconds the runs may take after the faults")
        parser.add_argument("--json", dest="json_path", help="also write the figures to this file as JSON")
        parser.add_argument("--dir", help="parent folder of the private instances (default: the system temp folder)")
        parser.add_argument("--keep", action="store_true", help="leave the private instances running (prints how to reach them)")
        parser.add_argument(
            "--instances", help="drive already running private instances described by this file (the settings must point at them)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        scenarios = self._scenarios(options["scenario"])
        if options["instances"]:
            self._drive(Instances.load(Path(options["instances"])), scenarios, options)
            return
        self._run_with_private_instances(scenarios, options)

    def _scenarios(self, chosen: list[str] | None) -> list[str]:

        picked = chosen or ["all"]
        return list(SCENARIOS) if "all" in picked else list(dict.fromkeys(picked))

    # --- the outer process: private instances, then the driver ------------------------------------

    def _run_with_private_instances(self, scenarios: list[str], options: dict[str, Any]) -> None:
        parent = Path(options["dir"]) if options["dir"] else None
        self.stderr.write("starting a private Postgres and Redis…")
        try:
            instances = Instances.start(parent)
        except MissingBinaries as exc:
            raise CommandError(str(exc)) from exc
        try:
            self.stderr.write(
                f"Postgres on port {instances.postgres.port}, Redis on port {instances.redis.port} "
                f"(in {instances.root}); migrating…"
            )
            instances.migrate()
            command = [sys.executable, "manage.py", "chaos", "--instances", str(instances.save())]
            code = subprocess.call(command + self._forwarded(scenarios, options), cwd=ROOT, env=driver_env(instances))
        finally:
            if options["keep"]:
                self.stderr.write(
                    f"kept: DATABASE_URL={instances.postgres.url()} CELERY_BROKER_URL={instances.redis.url(0)} "
                    f"(state in {instances.state_file})"
                )
            else:
                instances.destroy()
        if code != 0:
            raise CommandError("chaos: an invariant failed (see above)", returncode=code)

    def _forwarded(self, scenarios: list[str], options: dict[str, Any]) -> list[str]:
        args = ["--runs", str(options["runs"]), "--workers", str(options["workers"]),
                "--down-seconds", str(options["down_seconds"]), "--pace", str(options["pace"]),
                "--drop", str(options["drop"]), "--seed", str(options["seed"]), "--timeout", str(options["timeout"]),
                "--whole-worker-kills", str(options["whole_worker_kills"]), "--burst", str(options["burst"]),
                "--reads", str(options["reads"]), "--max-connections", str(options["max_connections"]),
                "--web-connections", str(options["web_connections"])]
        for scenario in scenarios:
            args += ["--scenario", scenario]
        if options["faults"] is not None:
            args += ["--faults", str(options["faults"])]
        if options["json_path"]:
            args += ["--json", str(Path(options["json_path"]).resolve())]
        return args

    # --- the driver -------------------------------------------------------------------------------

    def _drive(self, instances: Instances, scenarios: list[str], options: dict[str, Any]) -> None:

        self._check_settings_point_at(instances)
        chaos_options = ChaosOptions(
            runs=options["runs"], workers=options["workers"], faults=options["faults"],
            down_seconds=options["down_seconds"], pace=options["pace"], drop=options["drop"],
            whole_worker_kills=options["whole_worker_kills"],
            timeout=options["timeout"], seed=options["seed"],
        )
        log_dir = Path(instances.root) / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        results = []
        w = self.stdout.write
        with Harness(chaos_options, log_dir, instances, self.stderr.write) as harness:
            self.stderr.write(f"{chaos_options.workers} workers starting; clean runs first (worker logs in {log_dir})…")
            harness.baseline()
            w(
                f"Steward chaos: {chaos_options.runs} runs per scenario, {chaos_options.workers} worker processes; "
                f"lease {settings.STEWARD_LEASE_SECONDS} s, re-send after {settings.STEWARD_REQUEUE_SECONDS} s, "
                f"max attempts {settings.STEWARD_MAX_ATTEMPTS}, sweep every 0.5 s"
            )
            w(
                "runs cycle through: refund 250 (gated, a reviewer approves), refund 40 (passes by its condition), "
                "order_summary (5 steps, no gate), chaos_fanout (a Send fan-out of 4 ledgered refunds); "
                "ok spans of a clean run: "
                + ", ".join(f"{k} {v}" for k, v in harness.expected_ok_spans.items())
                + "\n"
            )
            for name in scenarios:
                self.stderr.write(f"scenario {name}…")
                result = self._run(name, harness, options)
                results.append(result)
                lines = report_lines(result)
                if name == "burst":
                    lines[-1:-1] = burst_report_lines(result)
                for line in lines:
                    w(line)
                w("")
        figures = [r.as_dict() for r in results]
        self._summary(figures)
        if options["json_path"]:
            Path(options["json_path"]).write_text(json.dumps(figures, indent=2, default=str))
        failed = [r.name for r in results if not r.ok]
        if failed:
            raise CommandError(f"chaos: invariants failed in {', '.join(failed)}", returncode=1)

    def _run(self, name: str, harness: Harness, options: dict[str, Any]) -> ScenarioResult:
        if name == "channels":
            return run_channels_scenario(harness)
        if name == "burst":
            burst = BurstOptions(
                starts=options["burst"], reads=options["reads"], max_connections=options["max_connections"],
                web_connections=options["web_connections"],
            )
            return run_burst_scenario(harness, burst)
        return run_scenario(name, harness)

    def _check_settings_point_at(self, instances: Instances) -> None:
        db = settings.DATABASES["default"]
        broker = urlparse(settings.CELERY_BROKER_URL)
        if connection.vendor != "postgresql" or int(db.get("PORT") or 0) != instances.postgres.port:
            raise CommandError(
                f"the settings' database is not the private Postgres on port {instances.postgres.port}: "
                "set DATABASE_URL (run without --instances to have everything set up)"
            )
        if broker.port != instances.redis.port or urlparse(settings.CHANNEL_LAYER_URL).port != instances.redis.port:
            raise CommandError(f"CELERY_BROKER_URL and CHANNEL_LAYER_URL must point at the private Redis on port {instances.redis.port}")

    def _summary(self, figures: list[dict[str, Any]]) -> None:
        w = self.stdout.write
        w(f"{'scenario':<10}{'runs':>6}{'ok':>6}{'failed':>8}{'faults':>8}{'rec p50 s':>11}{'rec max s':>11}"
          f"{'lost spans':>12}{'dup effects':>13}{'re-queued':>11}{'re-sent':>9}  result")
        for f in figures:
            p50 = "-" if f["recovery_p50_s"] is None else f"{f['recovery_p50_s']:.2f}"
            top = "-" if f["recovery_max_s"] is None else f"{f['recovery_max_s']:.2f}"
            dups = f["duplicate_refunds"] + f["duplicate_ledger_rows"] + f["duplicate_approval_requests"]
            w(f"{f['scenario']:<10}{f['runs']:>6}{f['succeeded']:>6}{f['failed']:>8}{f['faults']:>8}{p50:>11}{top:>11}"
              f"{f['lost_spans'] + f['steps_without_span']:>12}{dups:>13}{f['sweeper_requeued']:>11}{f['sweeper_resent']:>9}  "
              f"{'OK' if f['ok'] else 'FAILED'}")
        w(f"chaos_ok={int(all(f['ok'] for f in figures))}")
