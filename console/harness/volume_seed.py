"""Seeding the console at real volume for `manage.py bench_pages`: runs, spans with realistic
payloads, and a backlog of pending approvals, written with COPY into the real tables.

What a seed holds (`Volume`, default 100,000 runs / 2,000,000 spans / 10,000 pending):

- runs of the three demo agents over the last 30 days, by a few seeded engineers: about 85%
  succeeded, 10% failed (error and traceback), 5% cancelled; `pending` of them `waiting` at a
  gate, each with a pending ApprovalRequest in the `payments` queue (mostly recent, a tail past
  its SLA); totals on each run match its spans;
- `spans` spans spread evenly over those runs: a node span per step with a model or tool call
  under it. Each span's input and output together are 1–4 KB of JSON shaped like what the
  recorder stores (message lists with a system prompt, tool arguments and results, node state);
- some calls' outputs held a secret: they are stored redacted, and the original is sealed in
  `Span.sealed` exactly as traces/recording/writer.py does (AES-GCM bound to the span id, with
  this process's keyring), so a recorded replay could open it; a few runs' inputs likewise
  (`SealedRunInput`);
- one more run of `big_run_spans` spans (metadata `big_run`), written last: its presence says the
  seed is complete, so a second bench on the same database skips seeding.

Rows go in batches of `BATCH_RUNS` runs, one transaction each (runs, spans, sealed inputs,
approval requests), via psycopg's `cursor.copy()` on Django's connection. Postgres only. Nothing
is sent to a worker or published live; no checkpoint is written.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, models, transaction
from django.utils import timezone

from agents.engine.models import Agent, Run
from agents.engine.registry import sync_agents
from approvals.models import ApprovalRequest, Queue
from console.kernel.redaction import redacted
from console.kernel.roles import ENGINEERS, REVIEWERS
from console.kernel.sealing import seal_json
from traces.recording.models import SealedRunInput, Span

__all__ = ["BATCH_RUNS", "PENDING_QUEUE", "SeedError", "Volume", "big_run_of", "seed", "seeded_label"]

BATCH_RUNS = 2_000
PENDING_QUEUE = "payments"
AGENT_KEYS = ("refund", "order_summary", "stock_check")
SEED_USERS = tuple(f"volume-engineer-{i}" for i in range(1, 7))
REQUESTER = "volume-engineer-1"
DAYS = 30
MODELS = (("gpt-4o-mini", 0.5), ("claude-3-5-haiku-latest", 0.3), ("scripted-demo", 0.2))
STATUSES = ((Run.Status.SUCCEEDED, 0.85), (Run.Status.FAILED, 0.10), (Run.Status.CANCELLED, 0.05))
TAGS = ("eu", "us", "priority", "vip", "batch", "support")
# Agent key → the nodes its steps cycle through, each with the call under it (kind, tool name).
SHAPES: dict[str, list[tuple[str, str, str]]] = {
    "refund": [("agent", "model", ""), ("tools", "tool", "lookup_order"), ("agent", "model", ""), ("tools", "tool", "issue_refund")],
    "order_summary": [("agent", "model", ""), ("tools", "tool", "list_orders"), ("agent", "model", ""), ("tools", "tool", "shipping_status")],
    "stock_check": [("agent", "model", ""), ("tools", "tool", "check_inventory")],
}
SYSTEM_PROMPT = (
    "You are the customer-support agent of an online shop. Look orders up before you answer, "
    "never promise a refund you have not issued, refunds over 100 USD need a reviewer's approval, "
    "and answer in the customer's language, politely and briefly. "
)
SENTENCES = (
    "The customer says the parcel arrived with a torn box and one item missing.",
    "Order {order} was shipped from the north warehouse on the 3rd and delivered two days late.",
    "The courier scanned the parcel at the depot but there is no delivery photo.",
    "Customer {customer} has ordered 14 times this year and never asked for a refund before.",
    "The umbrella in order {order} arrived damaged; the customer attached two photos.",
    "Stock for {sku} is 42 units in the south warehouse and 3 in the north one.",
    "The payment was captured twice: once at checkout and once when the order was edited.",
    "Policy: items can be returned within 30 days; shipping is refunded only for damaged goods.",
    "The customer would accept a replacement if it ships this week, otherwise a refund.",
    "Previous ticket: the customer asked about the size chart and ordered the medium instead.",
)
ERRORS = (
    ("InventoryServiceError", "inventory service answered 503 Service Unavailable for {sku}"),
    ("RateLimitError", "model provider rate limit reached: retry after 20s"),
    ("TimeoutError", "tool call timed out after 30 s"),
)
# One call in this many held a secret in its output (stored redacted, the original sealed).
SECRET_EVERY = 25
# One run in this many had a secret in its input (a SealedRunInput row).
SECRET_INPUT_EVERY = 50
PAYLOAD_VARIANTS = 48


class SeedError(RuntimeError):
    """The database holds another seed, or is not Postgres: seeding would mix volumes."""


@dataclass(frozen=True)
class Volume:
    runs: int = 100_000
    spans: int = 2_000_000
    big_run_spans: int = 2_000
    pending: int = 10_000

    @property
    def label(self) -> str:
        return f"{self.runs}r-{self.spans}s-{self.big_run_spans}b-{self.pending}p"


def big_run_of(volume: Volume) -> Run | None:
    """The seed's big run, if this volume was seeded to the end (it is written last)."""
    return Run.objects.filter(metadata__volume_seed=volume.label, metadata__big_run=True).first()


def seeded_label() -> str | None:
    """The label of the seed this database holds (complete or not), if any."""
    row = Run.objects.filter(metadata__has_key="volume_seed").values_list("metadata__volume_seed", flat=True).first()
    return str(row) if row is not None else None


# --- payloads ------------------------------------------------------------------------------------


def _text(rng: random.Random, size: int, names: dict[str, str]) -> str:
    parts: list[str] = []
    length = 0
    while length < size:
        sentence = rng.choice(SENTENCES).format(**names)
        parts.append(sentence)
        length += len(sentence) + 1
    return " ".join(parts)[:size]


@dataclass(frozen=True)
class Payload:
    """One call's stored input and output (JSON text, redacted) and, when redaction changed
    the output, the original output to seal per span."""

    input_json: str
    output_json: str
    original_output: Any = None


class PayloadPool:
    """A few dozen pre-rendered payloads per (kind, name): 2M spans cost no json.dumps each."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._pools: dict[tuple[str, str], list[Payload]] = {}

    def pick(self, kind: str, name: str) -> Payload:
        key = (kind, name)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = [self._make(kind, name, i) for i in range(PAYLOAD_VARIANTS)]
        return self.rng.choice(pool)

    def _make(self, kind: str, name: str, i: int) -> Payload:
        rng = self.rng
        # 1–4 KB for input and output together; the input is the larger part.
        total = rng.randint(1100, 4000)
        names = {"order": f"A-{10_000 + i}", "customer": f"C-{2_000 + i}", "sku": f"SKU-{300 + i}"}
        conversation = [
            {"type": "system", "content": SYSTEM_PROMPT},
            {"type": "human", "content": _text(rng, total // 3, names)},
            {"type": "ai", "content": "", "tool_calls": [{"name": "lookup_order", "args": {"order_id": names["order"]}, "id": f"call_{i}"}]},
            {"type": "tool", "content": _text(rng, total // 5, names), "tool_call_id": f"call_{i}"},
        ]
        secret = i % SECRET_EVERY == 0 and kind in ("model", "tool")
        value_in: Any
        value_out: Any
        if kind == "node":
            value_in = {"messages": conversation}
            value_out = {"messages": [{"type": "ai", "content": _text(rng, total // 4, names)}]}
        elif kind == "model":
            value_in = conversation
            value_out = {
                "type": "ai",
                "content": _text(rng, total // 4, names),
                "response_metadata": {"model_name": name, "finish_reason": "stop"},
                "usage_metadata": {"input_tokens": total // 4, "output_tokens": total // 16, "total_tokens": total * 5 // 16},
            }
        else:
            value_in = {"order_id": names["order"], "customer_id": names["customer"], "note": _text(rng, total // 3, names)}
            value_out = {"status": rng.choice(["delivered", "in transit", "processing"]), "details": _text(rng, total // 2, names)}
        if secret:
            # What a tool or model echoed back from a misconfigured service: redacted on the span.
            value_out["api_key"] = f"sk-live-{uuid.UUID(int=rng.getrandbits(128)).hex}"
        clean_out, changed = redacted(value_out)
        clean_in, _ = redacted(value_in)
        return Payload(json.dumps(clean_in), json.dumps(clean_out), value_out if changed else None)


def _weighted(rng: random.Random, choices: tuple[tuple[Any, float], ...]) -> Any:
    roll = rng.random()
    for value, share in choices:
        roll -= share
        if roll < 0:
            return value
    return choices[-1][0]


# --- COPY ----------------------------------------------------------------------------------------


class CopyTable:
    """One model's COPY statement: the given columns in order, then every other concrete column
    with its default (so a column someone adds later does not break seeding)."""

    def __init__(self, model: type[models.Model], names: tuple[str, ...], json_names: tuple[str, ...] = ()) -> None:
        by_attname = {f.attname: f for f in model._meta.concrete_fields}
        missing = [n for n in names if n not in by_attname]
        if missing:
            raise SeedError(f"{model._meta.db_table} has no column(s) {missing}: update console/harness/volume_seed.py")
        self.json_positions = [names.index(n) for n in json_names]
        extra = [f for f in model._meta.concrete_fields if f.attname not in names and not getattr(f, "generated", False)]
        self.extra = tuple(self._default(f) for f in extra)
        columns = [by_attname[n].column for n in names] + [f.column for f in extra]
        quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
        self.sql = f"COPY {model._meta.db_table} ({quoted}) FROM STDIN"

    @staticmethod
    def _default(f: models.Field[Any, Any]) -> Any:
        value = f.get_default()
        if isinstance(f, models.JSONField):
            return json.dumps(value) if value is not None else None
        return f.get_db_prep_save(value, connection)

    def row(self, values: tuple[Any, ...]) -> tuple[Any, ...]:
        if self.json_positions:
            items = list(values)
            for i in self.json_positions:
                if items[i] is not None and not isinstance(items[i], str):
                    items[i] = json.dumps(items[i])
            values = tuple(items)
        return values + self.extra


RUN_COLUMNS = (
    "id", "agent_id", "thread_id", "status", "input", "output", "error", "error_traceback", "metadata",
    "graph_fingerprint", "created_by_id", "created_at", "enqueued_at", "started_at", "finished_at",
    "attempts", "steps", "tokens_in", "tokens_out", "cost", "latency_ms", "span_count", "active_seconds",
)  # fmt: skip
SPAN_COLUMNS = (
    "id", "run_id", "parent_id", "seq", "kind", "name", "status", "started_at", "latency_ms", "input",
    "output", "error", "tokens_in", "tokens_out", "cost", "model", "checkpoint_id", "step", "sealed",
)  # fmt: skip
REQUEST_COLUMNS = (
    "id", "queue_id", "run_id", "interrupt_id", "requested_by_id", "action", "summary", "proposed_args",
    "args_schema", "tool_call_id", "condition", "status", "created_at", "due_at", "agent_id",
)  # fmt: skip


@dataclass
class Batch:
    runs: list[tuple[Any, ...]] = field(default_factory=list)
    spans: list[tuple[Any, ...]] = field(default_factory=list)
    sealed_inputs: list[tuple[Any, ...]] = field(default_factory=list)
    requests: list[tuple[Any, ...]] = field(default_factory=list)


# --- rows ----------------------------------------------------------------------------------------


class RowMaker:
    """Runs, their spans and their approval requests as tuples in the *_COLUMNS orders."""

    def __init__(self, rng: random.Random, agents: list[Agent], users: list[Any], queue: Queue, now: datetime) -> None:
        self.rng, self.agents, self.users, self.queue, self.now = rng, agents, users, queue, now
        self.pool = PayloadPool(rng)
        self.prices = settings.STEWARD_MODEL_PRICES
        self.requester = users[0]
        self.sequence = 0

    def run(self, batch: Batch, n_spans: int, label: str, waiting: bool = False, big: bool = False) -> uuid.UUID:
        rng = self.rng
        self.sequence += 1
        agent = rng.choice(self.agents)
        status = Run.Status.WAITING if waiting else (Run.Status.SUCCEEDED if big else _weighted(rng, STATUSES))
        model = _weighted(rng, MODELS)
        run_id = uuid.uuid4()
        if waiting:
            # A backlog: mostly recent, with a tail past the queue's SLA.
            age = timedelta(seconds=min(rng.expovariate(1 / (self.queue.sla_minutes * 60 * 0.6)), DAYS * 86400))
        else:
            age = timedelta(seconds=rng.uniform(0, DAYS * 86400))
        created = self.now - age
        started = created + timedelta(milliseconds=rng.uniform(5, 1500))
        order, amount = f"A-{rng.randint(10_000, 999_999)}", round(rng.uniform(5, 900), 2)
        run_input: dict[str, Any] = {"order_id": order, "amount": amount, "reason": rng.choice(SENTENCES).format(order=order, customer="C-1", sku="SKU-1")}
        if self.sequence % SECRET_INPUT_EVERY == 0:
            original = {**run_input, "api_key": f"sk-live-{uuid.uuid4().hex}"}
            run_input = redacted(original)[0]
            batch.sealed_inputs.append((run_id, seal_json(original, run_id.bytes)))
        totals, end = self._spans(batch, run_id, agent.key, model, status, started, n_spans)
        error = traceback = ""
        if status == Run.Status.FAILED:
            name, message = rng.choice(ERRORS)
            error = f"{name}: {message.format(sku='SKU-' + order[2:])}"
            traceback = (
                "Traceback (most recent call last):\n"
                '  File "agents/engine/runtime.py", line 312, in _invoke\n    result = graph.invoke(payload, config)\n'
                f'  File "agents/demo/{agent.key}.py", line 48, in tools_node\n    return run_tool_calls(...)\n{error}\n'
            )
        metadata: dict[str, Any] = {"volume_seed": label, "tags": rng.sample(TAGS, rng.randint(0, 2))}
        if big:
            metadata["big_run"] = True
        finished = None if status == Run.Status.WAITING else end
        output = {"answer": f"Done: {amount} refunded on order {order}."} if status == Run.Status.SUCCEEDED else None
        batch.runs.append((
            run_id, agent.id, str(run_id), status, run_input, output, error, traceback, metadata,
            agent.fingerprint, rng.choice(self.users).id, created, created, started, finished, 1,
            totals["steps"], totals["tokens_in"], totals["tokens_out"], round(totals["cost"], 8),
            round(totals["latency_ms"], 3), totals["spans"], round((end - started).total_seconds(), 3),
        ))  # fmt: skip
        if waiting:
            args = {"order_id": order, "amount": amount}
            batch.requests.append((
                uuid.uuid4(), self.queue.id, run_id, uuid.uuid4().hex, self.requester.id, "issue_refund",
                f"Refund {amount:.2f} USD on order {order}", args, {"type": "object", "properties": {
                    "order_id": {"type": "string"}, "amount": {"type": "number", "x-currency": "USD"}}},
                "call_refund", "amount > 100", ApprovalRequest.Status.PENDING, created + timedelta(seconds=1),
                created + timedelta(minutes=self.queue.sla_minutes), agent.id,
            ))  # fmt: skip
        return run_id

    def _spans(
        self, batch: Batch, run_id: uuid.UUID, key: str, model: str, status: str, started: datetime, n: int
    ) -> tuple[dict[str, Any], datetime]:
        rng, pool = self.rng, self.pool
        shape = SHAPES[key]
        price = self.prices.get(model, {"input": 0.0, "output": 0.0})
        totals: dict[str, Any] = {"steps": 0, "spans": 0, "tokens_in": 0, "tokens_out": 0, "cost": 0.0, "latency_ms": 0.0}
        clock, seq, step = started, 0, 0
        while seq < n:
            node, child_kind, tool = shape[step % len(shape)]
            step += 1
            checkpoint_id = str(uuid.uuid4())
            last = seq + 2 >= n
            node_status, error = "ok", ""
            if last and status == Run.Status.FAILED:
                node_status, error = "error", "Traceback (most recent call last):\n  ...\nRuntimeError: tool call failed"
            elif last and status == Run.Status.WAITING:
                node_status = "paused"
            node_id, node_start, child_latency = uuid.uuid4(), clock, 0.0
            if seq + 1 < n:
                child_start = node_start + timedelta(milliseconds=rng.uniform(0.1, 2))
                tokens_in = tokens_out = 0
                cost = 0.0
                if last and status == Run.Status.WAITING:
                    kind, name, child_model = "gate", "issue_refund", ""
                    child_latency = rng.uniform(0.5, 3)
                elif child_kind == "model":
                    kind, name, child_model = "model", model, model
                    tokens_in, tokens_out = rng.randint(300, 3000), rng.randint(20, 400)
                    cost = round(tokens_in / 1000 * price["input"] + tokens_out / 1000 * price["output"], 8)
                    child_latency = rng.lognormvariate(6.5, 0.6)
                else:
                    kind, name, child_model = "tool", tool, ""
                    child_latency = rng.lognormvariate(3.5, 1.0)
                payload = pool.pick("tool" if kind == "gate" else kind, name)
                child_id = uuid.uuid4()
                sealed = None
                output_json: str | None = payload.output_json
                if node_status == "error":
                    output_json = None
                elif payload.original_output is not None and kind in ("model", "tool"):
                    sealed = seal_json({"output": payload.original_output}, child_id.bytes)
                batch.spans.append((
                    child_id, run_id, node_id, seq + 1, kind, name, node_status, child_start, round(child_latency, 3),
                    payload.input_json, output_json, error.splitlines()[-1] if error else "", tokens_in, tokens_out,
                    cost, child_model, checkpoint_id, step, sealed,
                ))  # fmt: skip
                totals["tokens_in"] += tokens_in
                totals["tokens_out"] += tokens_out
                totals["cost"] += cost
                totals["spans"] += 1
            node_latency = child_latency + rng.uniform(0.2, 4)
            payload = pool.pick("node", node)
            batch.spans.append((
                node_id, run_id, None, seq, "node", node, node_status, node_start, round(node_latency, 3),
                payload.input_json, payload.output_json if node_status == "ok" else None, error, 0, 0, 0.0, "",
                checkpoint_id, step, None,
            ))  # fmt: skip
            totals["steps"] += 1
            totals["spans"] += 1
            totals["latency_ms"] += node_latency
            clock = node_start + timedelta(milliseconds=node_latency + rng.uniform(0.5, 5))
            seq += 2 if seq + 1 < n else 1
        return totals, clock


# --- the seed ------------------------------------------------------------------------------------


def _users() -> list[Any]:
    User = get_user_model()
    engineers = Group.objects.get_or_create(name=ENGINEERS)[0]
    users = []
    for username in SEED_USERS:
        user, created = User.objects.get_or_create(username=username)
        if created:
            # Seeded users own runs and requests; they do not log in.
            user.set_unusable_password()
            user.save(update_fields=["password"])
        user.groups.add(engineers)
        users.append(user)
    return users


def _queue() -> Queue:
    queue, created = Queue.objects.get_or_create(name=PENDING_QUEUE, defaults={"description": "Refunds over 100."})
    if created:
        queue.reviewer_groups.add(Group.objects.get_or_create(name=REVIEWERS)[0])
    return queue


def _write(batch: Batch, tables: dict[str, CopyTable]) -> None:
    """One transaction: COPY the runs, their spans, sealed inputs and approval requests."""
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.connection  # psycopg's connection, inside Django's transaction
        for name, rows in (("runs", batch.runs), ("spans", batch.spans), ("sealed", batch.sealed_inputs), ("requests", batch.requests)):
            if not rows:
                continue
            table = tables[name]
            with raw.cursor() as copy_cursor, copy_cursor.copy(table.sql) as copy:
                for row in rows:
                    copy.write_row(table.row(row))


def seed(volume: Volume, say: Callable[[str], None], seed_value: int = 20) -> Run:
    """Seed `volume` unless it is seeded already; returns the big run.

    Raises:
        SeedError: not Postgres, or the database holds a seed of another size.
    """
    if connection.vendor != "postgresql":
        raise SeedError("seeding at volume uses COPY: point DATABASE_URL at a Postgres database of its own")
    done = big_run_of(volume)
    if done is not None:
        say(f"already seeded ({volume.label}): skipping")
        return done
    other = seeded_label()
    if other is not None:
        raise SeedError(
            f"this database holds another seed ({other}, or an unfinished one): use a fresh database, "
            f"or the same --runs/--spans/--pending as that seed"
        )
    rng = random.Random(seed_value)
    sync_agents()
    agents = list(Agent.objects.filter(key__in=AGENT_KEYS))
    if len(agents) != len(AGENT_KEYS):
        raise SeedError(f"the demo agents {', '.join(AGENT_KEYS)} must be registered (STEWARD_AGENT_MODULES)")
    maker = RowMaker(rng, agents, _users(), _queue(), timezone.now())
    tables = {
        "runs": CopyTable(Run, RUN_COLUMNS, ("input", "output", "metadata")),
        "spans": CopyTable(Span, SPAN_COLUMNS),
        "sealed": CopyTable(SealedRunInput, ("run_id", "sealed")),
        "requests": CopyTable(ApprovalRequest, REQUEST_COLUMNS, ("proposed_args", "args_schema")),
    }
    waiting = set(rng.sample(range(volume.runs), min(volume.pending, volume.runs)))
    per_run, extra = divmod(volume.spans, max(volume.runs, 1))
    say(f"seeding {volume.label}: {volume.runs:,} runs, {volume.spans:,} spans, {len(waiting):,} pending, big run of {volume.big_run_spans:,}")
    started = time.perf_counter()
    written_spans = 0
    for first in range(0, volume.runs, BATCH_RUNS):
        batch = Batch()
        for index in range(first, min(first + BATCH_RUNS, volume.runs)):
            maker.run(batch, per_run + (1 if index < extra else 0), volume.label, waiting=index in waiting)
        _write(batch, tables)
        written_spans += len(batch.spans)
        elapsed = time.perf_counter() - started
        say(f"  {min(first + BATCH_RUNS, volume.runs):,} runs, {written_spans:,} spans, {elapsed:.0f} s ({written_spans / elapsed:,.0f} spans/s)")
    batch = Batch()
    big_id = maker.run(batch, volume.big_run_spans, volume.label, big=True)
    _write(batch, tables)
    with connection.cursor() as cursor:
        # Freshly copied tables: give the planner their statistics now, not at autovacuum's leisure.
        for table in ("agents_run", "traces_span", "approvals_approvalrequest"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    say(f"seeded in {time.perf_counter() - started:.0f} s")
    return Run.objects.get(id=big_id)

