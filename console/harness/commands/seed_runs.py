"""`manage.py seed_runs`: realistic run and span volume, fast, for measuring the run pages and API.

    manage.py seed_runs --runs 100000 --spans-per-run 20 [--agents refund,order_summary,stock_check]
                        [--days 30] [--seed 1] [--big-run 2000]

Each run looks like one of the demo agents' (their node, model and tool names, inputs and answers
with words to search for), created over the last `--days` days by one of a few seeded engineers:
80% succeeded, 10% failed (an error and traceback, the last node and its call in error), 5% waiting
at a gate, 5% cancelled. Every run has exactly `--spans-per-run` spans: node spans (one per
step) each with a model or tool call under it, latencies, tokens and costs by model
("scripted-demo", "gpt-4o-mini", "claude-3-5-haiku-latest"). Totals on the run row match its
spans. `--big-run N` adds one more succeeded run of N spans (metadata `big_run: true`), for
timing the run page.

Rows are written in batches of `--batch` runs, one transaction each: with COPY on Postgres
(psycopg's `cursor.copy()` on Django's connection), with bulk_create elsewhere. No message goes to
a worker, no checkpoint is written (the checkpoints page of a seeded run is empty) and nothing is
published live. Run by hand on a database of its own; running it again adds more.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, models, transaction
from django.utils import timezone

from agents.engine.models import Agent, Run
from agents.engine.registry import sync_agents
from console.kernel.arguments import non_negative, positive
from console.kernel.roles import ENGINEERS
from traces.recording.models import Span

__all__ = ["SEARCH_WORD", "Command"]

SEED_USERS = tuple(f"seed-user-{i}" for i in range(1, 9))
MODELS = (("scripted-demo", 0.40), ("gpt-4o-mini", 0.35), ("claude-3-5-haiku-latest", 0.25))
# Status shares, as the issue asks: 80% succeeded, 10% failed, 5% waiting, 5% cancelled.
STATUSES = ((Run.Status.SUCCEEDED, 0.80), (Run.Status.FAILED, 0.10), (Run.Status.WAITING, 0.05), (Run.Status.CANCELLED, 0.05))
# A word in about one refund run in six (some 5% of all runs with the three demo agents): bench_inspect searches for it.
SEARCH_WORD = "umbrella"
REASONS = (
    f"the {SEARCH_WORD} arrived damaged",
    "parcel never arrived",
    "wrong size sent, customer wants the medium",
    "duplicate charge on the card",
    "customer changed their mind within the return window",
    "item arrived late for the wedding",
)
TAGS = ("eu", "us", "priority", "vip", "batch", "support")
ERRORS = (
    ("InventoryServiceError", "inventory service answered 503 Service Unavailable for {sku}"),
    ("RateLimitError", "model provider rate limit reached: retry after 20s"),
    ("TimeoutError", "tool call timed out after 30 s"),
    ("ValidationError", "1 validation error for issue_refund: amount must be greater than 0"),
)
# Agent key → the nodes its steps cycle through, each with the call under it (kind, name).
SHAPES: dict[str, list[tuple[str, str, str]]] = {
    "refund": [("agent", "model", ""), ("lookup", "tool", "lookup_order"), ("agent", "model", ""), ("refund", "tool", "issue_refund")],
    "order_summary": [("agent", "model", ""), ("tools", "tool", "list_orders"), ("agent", "model", ""), ("tools", "tool", "shipping_status")],
    "stock_check": [("agent", "model", ""), ("tools", "tool", "check_inventory")],
}
GATED_TOOL = {"refund": "issue_refund", "order_summary": "shipping_status", "stock_check": "check_inventory"}
RUN_FIELDS = (
    "id", "agent_id", "thread_id", "status", "input", "output", "error", "error_traceback", "metadata",
    "graph_fingerprint", "created_by_id", "parent_run_id", "root_run_id", "created_at", "enqueued_at",
    "started_at", "finished_at", "attempts", "lease_owner", "lease_expires_at", "steps", "tokens_in",
    "tokens_out", "cost", "latency_ms", "span_count",
)  # fmt: skip
SPAN_FIELDS = (
    "id", "run_id", "parent_id", "seq", "kind", "name", "status", "started_at", "latency_ms", "input",
    "output", "error", "tokens_in", "tokens_out", "cost", "model", "checkpoint_id", "step",
)  # fmt: skip
RUN_JSON = {"input", "output", "metadata"}


@dataclass
class Totals:
    runs: int = 0
    spans: int = 0
    by_status: dict[str, int] = field(default_factory=dict)

    def count(self, status: str, spans: int) -> None:
        self.runs += 1
        self.spans += spans
        self.by_status[status] = self.by_status.get(status, 0) + 1


class _Table:
    """How to COPY one model's rows: our fields in order, then every other concrete column of the
    model (one someone added since) with its default, so a new column does not break seeding."""

    def __init__(self, model: type[models.Model], names: tuple[str, ...], json_fields: set[str]) -> None:
        by_attname = {f.attname: f for f in model._meta.concrete_fields}
        missing = [n for n in names if n not in by_attname]
        if missing:
            raise CommandError(f"{model._meta.db_table} has no column(s) {missing}: update seed_runs")
        self.json_positions = [i for i, n in enumerate(names) if n in json_fields]
        extra = [f for f in model._meta.concrete_fields if f.attname not in names and not getattr(f, "generated", False)]
        self.extra_values = tuple(f.get_db_prep_save(f.get_default(), connection) for f in extra)
        columns = [by_attname[n].column for n in names] + [f.column for f in extra]
        self.sql = f"COPY {model._meta.db_table} ({', '.join(connection.ops.quote_name(c) for c in columns)}) FROM STDIN"

    def row(self, values: tuple[Any, ...]) -> tuple[Any, ...]:
        if self.json_positions:
            values_list = list(values)
            for i in self.json_positions:
                if values_list[i] is not None and not isinstance(values_list[i], str):
                    values_list[i] = json.dumps(values_list[i])
            values = tuple(values_list)
        return values + self.extra_values


class _Pool:
    """Pre-rendered span payloads (Python value and JSON text) so 2M spans cost no json.dumps each."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._cache: dict[tuple[str, str], list[tuple[Any, str]]] = {}

    def pick(self, kind: str, name: str) -> tuple[Any, str]:
        key = (kind, name)
        if key not in self._cache:
            self._cache[key] = [self._make(kind, name, i) for i in range(40)]
        return self.rng.choice(self._cache[key])

    def _make(self, kind: str, name: str, i: int) -> tuple[Any, str]:
        rng = self.rng
        reason = rng.choice(REASONS)
        if kind == "node:in":
            value: Any = {"messages": [{"type": "human", "content": f"Request: {{\"order_id\": \"A-{1000 + i}\", \"reason\": \"{reason}\"}}"}]}
        elif kind == "node:out":
            value = {"messages": [{"type": "ai", "content": f"Step {name} done for order A-{1000 + i}: {reason}."}]}
        elif kind == "model:in":
            value = [{"type": "human", "content": f"Request: order A-{1000 + i}, {reason}"}]
        elif kind == "model:out":
            value = {"type": "ai", "content": rng.choice(["", f"Looking up order A-{1000 + i}.", f"Refund of {rng.randint(5, 400)} approved: {reason}."])}
        elif kind == "tool:in":
            value = {"order_id": f"A-{1000 + i}", "amount": round(rng.uniform(5, 400), 2)} if "refund" in name or "order" in name else {"sku": f"SKU-{i}"}
        elif kind == "tool:out":
            value = json.dumps({"status": rng.choice(["delivered", "in transit", "processing"]), "total": rng.randint(10, 500)})
        else:
            value = None
        return value, json.dumps(value)


def _weighted(rng: random.Random, choices: tuple[tuple[Any, float], ...]) -> Any:
    roll = rng.random()
    for value, share in choices:
        roll -= share
        if roll < 0:
            return value
    return choices[-1][0]


class _Maker:
    """Builds runs and their spans as tuples in RUN_FIELDS / SPAN_FIELDS order."""

    def __init__(self, rng: random.Random, agents: list[Agent], users: list[Any], now: datetime, days: int) -> None:
        self.rng, self.agents, self.users, self.now, self.days = rng, agents, users, now, days
        self.pool = _Pool(rng)
        self.prices = settings.STEWARD_MODEL_PRICES
        self.sequence = 0

    def run(self, n_spans: int, status: str | None = None, big: bool = False) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
        rng = self.rng
        agent = rng.choice(self.agents)
        status = status or _weighted(rng, STATUSES)
        model = _weighted(rng, MODELS)
        self.sequence += 1
        run_id = uuid.uuid4()
        created = self.now - timedelta(seconds=rng.uniform(0, self.days * 86400))
        started = created + timedelta(milliseconds=rng.uniform(5, 1500))
        run_input, answer = self._io(agent.key)
        spans, end, totals = self._spans(run_id, agent.key, model, status, started, n_spans)
        error = traceback = ""
        if status == Run.Status.FAILED:
            name, message = rng.choice(ERRORS)
            error = f"{name}: {message.format(sku=run_input.get('sku', 'SKU-1'))}"
            traceback = (
                "Traceback (most recent call last):\n"
                f'  File "agents/engine/runtime.py", line 312, in _invoke\n    result = graph.invoke(payload, config)\n'
                f'  File "agents/demo/{agent.key}.py", line 48, in tools_node\n    return run_tool_calls(...)\n{error}\n'
            )
        metadata: dict[str, Any] = {"seeded": True, "tags": rng.sample(TAGS, rng.randint(0, 2))}
        if big:
            metadata["big_run"] = True
        user = rng.choice(self.users)
        row = (
            run_id, agent.id, str(run_id), status, run_input,
            {"answer": answer} if status == Run.Status.SUCCEEDED else None,
            error, traceback, metadata, agent.fingerprint, user.id, None, None, created, created, started,
            None if status == Run.Status.WAITING else end, 1, "", None,
            totals["steps"], totals["tokens_in"], totals["tokens_out"], round(totals["cost"], 8),
            round(totals["latency_ms"], 3), len(spans),
        )  # fmt: skip
        return row, spans

    def _io(self, key: str) -> tuple[dict[str, Any], str]:
        rng = self.rng
        number = rng.randint(1000, 99999)
        if key == "refund":
            amount = round(rng.uniform(5, 900), 2)
            reason = rng.choice(REASONS)
            return (
                {"order_id": f"A-{number}", "amount": amount, "reason": reason},
                f"Done: {amount} has been refunded on order A-{number} ({reason}).",
            )
        if key == "order_summary":
            states = ", ".join(rng.choice(["delivered", "in transit", "processing"]) for _ in range(3))
            return {"customer_id": f"C-{number}"}, f"Customer C-{number} has 3 recent orders: {states}."
        if key == "stock_check":
            sku = f"BROKEN-{number}" if rng.random() < 0.05 else f"SKU-{number}"
            return {"sku": sku}, f"{sku}: {rng.randint(0, 120)} units in stock in the north and south warehouses."
        return {"request": f"seeded request {number}"}, f"Seeded answer {number}."

    def _spans(
        self, run_id: uuid.UUID, key: str, model: str, status: str, started: datetime, n: int
    ) -> tuple[list[tuple[Any, ...]], datetime, dict[str, Any]]:
        rng, pool = self.rng, self.pool
        shape = SHAPES.get(key) or SHAPES["stock_check"]
        totals: dict[str, Any] = {"steps": 0, "tokens_in": 0, "tokens_out": 0, "cost": 0.0, "latency_ms": 0.0}
        spans: list[tuple[Any, ...]] = []
        clock = started
        seq = 0
        step = 0
        price = self.prices.get(model, {"input": 0.0, "output": 0.0})
        while seq < n:
            node, child_kind, child_name = shape[step % len(shape)]
            step += 1
            checkpoint_id = str(uuid.uuid4())
            last_unit = seq + 2 >= n
            node_status, error = "ok", ""
            if last_unit and status == Run.Status.FAILED:
                node_status, error = "error", "Traceback (most recent call last):\n  ...\nRuntimeError: seeded failure"
            elif last_unit and status == Run.Status.WAITING:
                node_status = "paused"
            node_id = uuid.uuid4()
            node_start = clock
            child: tuple[Any, ...] | None = None
            child_latency = 0.0
            if seq + 1 < n:
                child_start = node_start + timedelta(milliseconds=rng.uniform(0.1, 2))
                tokens_in = tokens_out = 0
                cost = 0.0
                if status == Run.Status.WAITING and last_unit:
                    kind, name, child_model = "gate", GATED_TOOL.get(key, child_name or "issue_refund"), ""
                    child_latency = rng.uniform(0.5, 3)
                elif child_kind == "model":
                    kind, name, child_model = "model", model, model
                    tokens_in, tokens_out = rng.randint(150, 3000), rng.randint(10, 400)
                    cost = round(tokens_in / 1000 * price["input"] + tokens_out / 1000 * price["output"], 8)
                    child_latency = rng.uniform(0.3, 3) if model == "scripted-demo" else rng.lognormvariate(6.5, 0.6)
                else:
                    kind, name, child_model = "tool", child_name, ""
                    child_latency = rng.lognormvariate(3.5, 1.0)
                child_in, child_out = pool.pick(f"{'model' if kind == 'model' else 'tool'}:in", name), pool.pick(
                    f"{'model' if kind == 'model' else 'tool'}:out", name
                )
                child = (
                    uuid.uuid4(), run_id, node_id, seq + 1, kind, name,
                    node_status if node_status != "ok" else "ok", child_start, round(child_latency, 3),
                    child_in, None if node_status == "error" else child_out,
                    error.splitlines()[-1] if error else "", tokens_in, tokens_out, cost, child_model, checkpoint_id, step,
                )  # fmt: skip
                totals["tokens_in"] += tokens_in
                totals["tokens_out"] += tokens_out
                totals["cost"] += cost
            node_latency = child_latency + rng.uniform(0.2, 4)
            node_in, node_out = pool.pick("node:in", node), pool.pick("node:out", node)
            spans.append(
                (
                    node_id, run_id, None, seq, "node", node, node_status, node_start, round(node_latency, 3),
                    node_in, None if node_status != "ok" else node_out, error, 0, 0, 0.0, "", checkpoint_id, step,
                )  # fmt: skip
            )
            if child is not None:
                spans.append(child)
            totals["steps"] += 1
            totals["latency_ms"] += node_latency
            clock = node_start + timedelta(milliseconds=node_latency + rng.uniform(0.5, 5))
            seq += 2 if child is not None else 1
        return spans, clock, totals


class Command(BaseCommand):
    help = (
        "Create runs of the demo agents with their spans in bulk (COPY on Postgres), with mixed statuses, "
        "times over the last days, tokens, costs and searchable text, to measure the run pages and API."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--runs", type=non_negative, default=100_000, help="runs to create")
        parser.add_argument("--spans-per-run", type=positive, default=20, help="spans of every run")
        parser.add_argument(
            "--agents", default="refund,order_summary,stock_check", help="comma-separated registered agent keys"
        )
        parser.add_argument("--days", type=positive, default=30, help="spread creation times over this many days")
        parser.add_argument("--seed", type=int, default=None, help="random seed, for the same data twice")
        parser.add_argument("--big-run", type=non_negative, default=0, help="also one succeeded run with this many spans")
        parser.add_argument("--batch", type=positive, default=2_000, help="runs per transaction")

    def handle(self, *args: Any, **options: Any) -> None:
        rng = random.Random(options["seed"])
        sync_agents()
        keys = [k.strip() for k in options["agents"].split(",") if k.strip()]
        agents = list(Agent.objects.filter(key__in=keys))
        unknown = sorted(set(keys) - {a.key for a in agents})
        if unknown or not agents:
            raise CommandError(f"unknown agent(s): {', '.join(unknown) or '(none given)'}")
        users = self._users()
        maker = _Maker(rng, agents, users, timezone.now(), options["days"])
        runs, per_run, batch = options["runs"], options["spans_per_run"], options["batch"]
        copy = connection.vendor == "postgresql"
        totals = Totals()
        self.stdout.write(
            f"seeding {runs:,} runs × {per_run} spans ({', '.join(a.key for a in agents)}) over {options['days']} days "
            f"on {connection.vendor} with {'COPY' if copy else 'bulk_create'}, {batch:,} runs per transaction"
        )
        started = time.perf_counter()
        writer = self._copy if copy else self._bulk_create
        for first in range(0, runs, batch):
            size = min(batch, runs - first)
            writer((maker.run(per_run) for _ in range(size)), totals)
            elapsed = time.perf_counter() - started
            self.stdout.write(
                f"  {totals.runs:,}/{runs:,} runs, {totals.spans:,} spans, {elapsed:.1f} s "
                f"({totals.spans / elapsed:,.0f} spans/s)"
            )
            self.stdout.flush()
        big_id = None
        if options["big_run"]:
            row, spans = maker.run(options["big_run"], status=Run.Status.SUCCEEDED, big=True)
            writer(iter([(row, spans)]), totals)
            big_id = row[0]
        # Seeded data is unusual data: tell the planner about it now rather than at autovacuum's leisure.
        if copy:
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE agents_run")
                cursor.execute("ANALYZE traces_span")
        elapsed = time.perf_counter() - started
        statuses = ", ".join(f"{n:,} {s}" for s, n in sorted(totals.by_status.items()))
        self.stdout.write(
            f"created {totals.runs:,} runs ({statuses}) and {totals.spans:,} spans in {elapsed:.1f} s "
            f"({totals.runs / elapsed:,.0f} runs/s, {totals.spans / elapsed:,.0f} spans/s); "
            f"started by {', '.join(SEED_USERS[:2])}…; search word {SEARCH_WORD!r}"
        )
        if big_id is not None:
            self.stdout.write(f"big run: {big_id} ({options['big_run']:,} spans)")

    # --- writing ------------------------------------------------------------------------------

    def _copy(self, made: Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]]]], totals: Totals) -> None:
        """One transaction: COPY the runs, then COPY their spans."""
        runs_table = _Table(Run, RUN_FIELDS, RUN_JSON)
        spans_table = _Table(Span, SPAN_FIELDS, set())
        extra = spans_table.extra_values
        pending_spans: list[tuple[Any, ...]] = []
        with transaction.atomic():
            with connection.cursor() as cursor:
                raw = cursor.connection  # psycopg's connection, inside Django's transaction
                with raw.cursor() as copy_cursor, copy_cursor.copy(runs_table.sql) as copy:
                    for run_row, spans in made:
                        copy.write_row(runs_table.row(run_row))
                        totals.count(run_row[3], len(spans))
                        pending_spans.extend(spans)
                with raw.cursor() as copy_cursor, copy_cursor.copy(spans_table.sql) as copy:
                    for span in pending_spans:
                        copy.write_row(_span_text(span) + extra)

    def _bulk_create(self, made: Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]]]], totals: Totals) -> None:
        """One transaction: bulk_create the runs, then their spans."""
        runs: list[Run] = []
        spans: list[Span] = []
        for run_row, span_rows in made:
            runs.append(Run(**dict(zip(RUN_FIELDS, run_row, strict=True))))
            totals.count(run_row[3], len(span_rows))
            for span in span_rows:
                values = dict(zip(SPAN_FIELDS, span, strict=True))
                values["input"], values["output"] = _value(values["input"]), _value(values["output"])
                spans.append(Span(**values))
        with transaction.atomic():
            Run.objects.bulk_create(runs, batch_size=500)
            Span.objects.bulk_create(spans, batch_size=500)

    def _users(self) -> list[Any]:
        User = get_user_model()
        engineers = Group.objects.get_or_create(name=ENGINEERS)[0]
        users = []
        for username in SEED_USERS:
            user, created = User.objects.get_or_create(username=username)
            if created:
                # Seeded users own runs; they do not log in.
                user.set_unusable_password()
                user.save(update_fields=["password"])
            user.groups.add(engineers)
            users.append(user)
        return users


def _span_text(span: tuple[Any, ...]) -> tuple[Any, ...]:
    """A span tuple with its pooled payloads as their JSON text (for COPY)."""
    values = list(span)
    for i in (9, 10):
        value = values[i]
        values[i] = value[1] if isinstance(value, tuple) else (None if value is None else json.dumps(value))
    return tuple(values)


def _value(payload: Any) -> Any:
    """A pooled payload's Python value (for bulk_create)."""
    return payload[0] if isinstance(payload, tuple) else payload
