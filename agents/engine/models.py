"""The run engine's tables: agents, runs, the idempotency ledger, circuit breakers, dead letters.

Django knows them as models of the `agents` and `console` apps (agents/models.py and
console/models.py import them), so their tables and migrations did not move."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from console.kernel.raw_rows import columns, instance_from_row
from console.kernel.redaction import redact, redact_text


class Agent(models.Model):
    """The database side of a registered agent: its settings, limits and current fingerprint."""

    key = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    input_schema = models.JSONField(default=dict, blank=True)
    example_input = models.JSONField(default=dict, blank=True)
    fingerprint = models.CharField(max_length=64, blank=True)
    settings = models.JSONField(default=dict, blank=True)
    is_registered = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


class RunQuerySet(models.QuerySet["Run"]):
    def visible_to(self, user: Any) -> RunQuerySet:
        # Every console role may read runs; reviewers need them to judge an action.
        return self


class Run(models.Model):
    """One execution of an agent, with what it used. Its counts and durations mean the same on
    every page, in the API (`totals`), the trace export and the run diff:

    - `steps`: node executions, i.e. node spans. A node that runs again (after an approval, or on
      another attempt) counts again, and nodes of one LangGraph superstep count one each. This is
      what `max_steps` limits, and the run page's Step column numbers them 1..steps.
    - `spans`: every recorded span (nodes, model and tool calls, gates): what
      `GET /api/runs/{id}/steps` returns.
    - `latency_ms`: the time spent inside the graph's nodes, the sum of node-span latencies
      (nodes that run in parallel each add theirs).
    - `active_ms`: the time workers spent on the run, summed over its executions; waiting in the
      queue or for a person does not count (what `timeout_seconds` limits; `active_seconds` * 1000).
    - `wall_ms`: first claim (`started_at`) to `finished_at`, waits included; None until the run
      finishes. The dashboard's durations and the runs list's Wall time are this.

    The stored ones (steps, span_count, latency_ms, active_seconds) are written when the run stops.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        WAITING = "waiting"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    ACTIVE = (Status.QUEUED, Status.RUNNING, Status.WAITING)
    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Foreign keys without an index of their own where one of Meta.indexes starts with them
    # (run_agent_created, run_creator_created): every index is written again at each change of status.
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="runs", db_index=False)
    thread_id = models.CharField(max_length=100)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    input = models.JSONField(default=dict)
    output = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    error_traceback = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    graph_fingerprint = models.CharField(max_length=64, blank=True)
    # Prompt versions pinned when the run started: {name: {"version": n, "id": pk, "label": ...}}.
    prompt_versions = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs", db_index=False
    )
    parent_run = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replays"
    )
    root_run = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # Queued behind its thread's active run (the LangGraph API's `multitask_strategy=enqueue`):
    # not sent, not claimable, until agents/engine/thread_queue.py starts it when that run ends.
    waits_for_thread = models.BooleanField(default=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The claim: one worker at a time holds the lease; attempts count claims since the run
    # last made progress a person asked for (start or resume).
    attempts = models.PositiveIntegerField(default=0)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Totals, written when the run stops (waiting or finished) so lists need no aggregate.
    steps = models.PositiveIntegerField(default=0)
    # `spans` in the totals (`Run.spans` is the reverse relation to the Span rows).
    span_count = models.PositiveIntegerField(default=0)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost = models.FloatField(default=0.0)
    latency_ms = models.FloatField(default=0.0)
    # Retention (traces/inspection/retention.py) deleted the run's spans and checkpoints at this time, under
    # a retention of this many days; the row and its totals stay.
    pruned_at = models.DateTimeField(null=True, blank=True)
    pruned_after_days = models.PositiveIntegerField(null=True, blank=True)
    # Limits (agents/engine/limits.py): the effective ones, fixed when the run was created (a reviewer
    # may raise one when the run pauses over it); each breach and what became of it; and the
    # seconds workers have spent on the run (waiting for a person or a worker does not count).
    limits = models.JSONField(default=dict, blank=True)
    limit_breaches = models.JSONField(default=list, blank=True)
    active_seconds = models.FloatField(default=0.0)

    objects = RunQuerySet.as_manager()
    # Set by a state change this worker made on Postgres: whether runs of the thread were queued
    # behind this one then (None: not known, ask the database).
    runs_waiting_behind: bool | None = None

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="run_created"),
            models.Index(fields=["status", "-created_at"], name="run_status_created"),
            models.Index(fields=["agent", "-created_at"], name="run_agent_created"),
            models.Index(fields=["status", "enqueued_at"], name="run_status_enqueued"),
            models.Index(fields=["thread_id", "created_at"], name="run_thread"),
            # Runs queued behind their thread (agents/engine/thread_queue.py): each run that ends asks.
            models.Index(fields=["thread_id", "created_at"], name="run_thread_waiting", condition=models.Q(waits_for_thread=True)),
            # Recently finished runs (the OpenTelemetry export's retry looks at the last hour's).
            models.Index(fields=["finished_at"], name="run_finished", condition=models.Q(finished_at__isnull=False)),
            # The runs list's other sorts and filters (agents/web/run_filters.py), so that each page
            # of 100,000 runs walks an index instead of sorting or filtering the whole table (the
            # tag filter's GIN index is Postgres only: agents migration 0011).
            models.Index(fields=["-cost", "-id"], name="run_cost"),
            models.Index(fields=["-latency_ms", "-id"], name="run_latency"),
            models.Index(fields=["-steps", "-id"], name="run_steps"),
            models.Index(fields=["created_by", "-created_at"], name="run_creator_created"),
            models.Index(fields=["-created_at", "-id"], name="run_error_created", condition=~models.Q(error="")),
        ]

    def __str__(self) -> str:
        return f"{self.agent_id}:{self.id}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def root_id(self) -> uuid.UUID:
        return self.root_run_id or self.id

    @property
    def totals(self) -> dict[str, Any]:
        """What the run has used, as the API, the trace export and the run diff show it."""
        return {
            "steps": self.steps,
            "spans": self.span_count,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost": self.cost,
            "latency_ms": self.latency_ms,
            "active_ms": self.active_ms,
            "wall_ms": self.wall_ms,
        }

    @property
    def active_ms(self) -> float:
        """Milliseconds workers spent on the run (see the class docstring)."""
        return round(self.active_seconds * 1000, 3)

    @property
    def wall_ms(self) -> float | None:
        """Milliseconds from the first claim to the finish, waits included; None until finished."""
        if self.started_at is None or self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds() * 1000, 3)

    # --- state changes: each is one conditional UPDATE, so two actors never both win -------

    @classmethod
    def claim(cls, run_id: uuid.UUID | str, owner: str, now: datetime | None = None) -> Run | None:
        """Take the run `queued -> running` with a fresh lease; None if someone else has it."""
        now = now or timezone.now()
        if connection.vendor == "postgresql":
            return cls._claim_returning(run_id, owner, now)
        claimed = cls.objects.filter(id=run_id, status=cls.Status.QUEUED, waits_for_thread=False).update(
            status=cls.Status.RUNNING,
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=settings.STEWARD_LEASE_SECONDS),
            attempts=F("attempts") + 1,
            started_at=Coalesce(F("started_at"), models.Value(now)),
        )
        if not claimed:
            return None
        return cls.objects.select_related("agent").get(id=run_id)

    @classmethod
    def _claim_returning(cls, run_id: uuid.UUID | str, owner: str, now: datetime) -> Run | None:
        """The claim as one statement: the UPDATE returns the run, its agent joined (a worker
        claims every run it executes: two round trips less than update-then-select)."""
        run_table, agent_table = cls._meta.db_table, Agent._meta.db_table
        sql = (
            f"WITH claimed AS (UPDATE {run_table} SET status = %s, lease_owner = %s, lease_expires_at = %s, "
            "attempts = attempts + 1, started_at = COALESCE(started_at, %s) "
            f"WHERE id = %s AND status = %s AND NOT waits_for_thread RETURNING *) "
            f"SELECT {columns(cls, 'claimed')}, {columns(Agent, 'a')} FROM claimed JOIN {agent_table} a ON a.id = claimed.agent_id"
        )
        try:
            run_uuid = run_id if isinstance(run_id, uuid.UUID) else uuid.UUID(str(run_id))
        except ValueError:
            return None
        expires = now + timedelta(seconds=settings.STEWARD_LEASE_SECONDS)
        with connection.cursor() as cursor:
            cursor.execute(sql, [cls.Status.RUNNING, owner, expires, now, run_uuid, cls.Status.QUEUED])
            row = cursor.fetchone()
        if row is None:
            return None
        split = len(cls._meta.concrete_fields)
        run = instance_from_row(cls, row[:split])
        run.agent = instance_from_row(Agent, row[split:])
        return run

    def _update_held(self, **values: Any) -> bool:
        """The state change as one conditional UPDATE of the run while this worker holds it.

        On Postgres the statement is written by hand (the ORM's compile cost ~1 ms on every run)
        and also tells whether runs of the thread are queued behind this one
        (`runs_waiting_behind`): the thread queue (agents/engine/thread_queue.py) then needs no
        query of its own when the run ends."""
        held = Run.objects.filter(id=self.id, status=self.Status.RUNNING, lease_owner=self.lease_owner)
        if connection.vendor != "postgresql":
            return bool(held.update(**values))
        fields = [field for field in self._meta.concrete_fields if field.name in values]
        assert len(fields) == len(values), f"not fields of a run: {set(values) - {f.name for f in fields}}"
        table = self._meta.db_table
        sql = (
            f"UPDATE {table} SET {', '.join(f'{field.column} = %s' for field in fields)} "
            "WHERE id = %s AND status = %s AND lease_owner = %s "
            f"RETURNING EXISTS (SELECT 1 FROM {table} behind WHERE behind.thread_id = {table}.thread_id "
            "AND behind.waits_for_thread AND behind.status = %s)"
        )
        params = [field.get_db_prep_save(values[field.name], connection) for field in fields]
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, self.id, self.Status.RUNNING, self.lease_owner, self.Status.QUEUED])
            row = cursor.fetchone()
        if row is None:
            return False
        self.runs_waiting_behind = bool(row[0])
        return True

    def mark_waiting(self, totals: dict[str, Any]) -> bool:
        return self._update_held(status=self.Status.WAITING, lease_owner="", lease_expires_at=None, **totals)

    def mark_succeeded(self, output: Any, totals: dict[str, Any]) -> bool:
        return self._update_held(
            status=self.Status.SUCCEEDED,
            # Shown on pages, the API and exports: stored redacted (console/kernel/redaction.py).
            output=redact(output),
            finished_at=timezone.now(),
            lease_owner="",
            lease_expires_at=None,
            **totals,
        )

    def mark_failed(self, error: str, traceback: str, totals: dict[str, Any]) -> bool:
        return self._update_held(
            status=self.Status.FAILED,
            error=redact_text(error),
            error_traceback=redact_text(traceback),
            finished_at=timezone.now(),
            lease_owner="",
            lease_expires_at=None,
            **totals,
        )

    def mark_cancelled(self, totals: dict[str, Any]) -> bool:
        """End the run cancelled from the worker that holds it (a reviewer stopped it at a breakpoint)."""
        return self._update_held(
            status=self.Status.CANCELLED, finished_at=timezone.now(), lease_owner="", lease_expires_at=None, **totals
        )

    def fail_waiting(self, error: str) -> bool:
        """End a waiting run as failed (its pause over a limit was refused)."""
        return bool(
            Run.objects.filter(id=self.id, status=self.Status.WAITING).update(
                status=self.Status.FAILED, error=redact_text(error), finished_at=timezone.now()
            )
        )

    @classmethod
    def requeue(cls, run_id: uuid.UUID, from_status: str, now: datetime | None = None) -> bool:
        """Move a run back to `queued` (after a decision, an expired lease, or from `failed` to
        retry it in place); the caller sends it."""
        now = now or timezone.now()
        updates: dict[str, Any] = {
            "status": cls.Status.QUEUED,
            "lease_owner": "",
            "lease_expires_at": None,
            "enqueued_at": now,
        }
        if from_status in (cls.Status.WAITING, cls.Status.FAILED):
            updates["attempts"] = 0
        query = cls.objects.filter(id=run_id, status=from_status)
        if from_status == cls.Status.RUNNING:
            query = query.filter(lease_expires_at__lt=now)
        if from_status == cls.Status.FAILED:
            # A retry starts the run over from its last checkpoint: no error, not finished. A
            # pruned run has no checkpoint left to start from.
            query = query.filter(pruned_at=None)
            updates.update(error="", error_traceback="", finished_at=None)
        return bool(query.update(**updates))

    @classmethod
    def stop_waiting_for_thread(cls, run_id: uuid.UUID, now: datetime | None = None) -> bool:
        """Let a run queued behind its thread be claimed (the caller sends it)."""
        now = now or timezone.now()
        return bool(
            cls.objects.filter(id=run_id, status=cls.Status.QUEUED, waits_for_thread=True).update(
                waits_for_thread=False, enqueued_at=now
            )
        )

    @classmethod
    def mark_resent(cls, run_ids: list[uuid.UUID], now: datetime) -> int:
        """Stamp the send time of those of these runs still queued (the sweeper sends them again)."""
        return cls.objects.filter(id__in=run_ids, status=cls.Status.QUEUED).update(enqueued_at=now)

    @classmethod
    def fail_abandoned(cls, run_id: uuid.UUID, error: str, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return bool(
            cls.objects.filter(id=run_id, status=cls.Status.RUNNING, lease_expires_at__lt=now).update(
                status=cls.Status.FAILED,
                error=error,
                finished_at=now,
                lease_owner="",
                lease_expires_at=None,
            )
        )

    @classmethod
    def pin_prompt_late(cls, run_id: uuid.UUID | str, name: str, pin: dict[str, Any]) -> bool:
        """Add a prompt pinned at its first use to the run's pins (in the caller's transaction);
        False if the run is gone or had pinned that prompt already."""
        run = cls.objects.select_for_update().filter(id=run_id).only("id", "prompt_versions").first()
        if run is None or name in (run.prompt_versions or {}):
            return False
        cls.objects.filter(id=run_id).update(prompt_versions={**(run.prompt_versions or {}), name: pin})
        return True

    @classmethod
    def lock(cls, run_id: uuid.UUID | str) -> None:
        """Lock the run's row until the transaction ends. A write that changes a run and its
        approval requests takes this lock first (docs/architecture.md, "Locks"): the run, then its
        requests, then the audit log. `NO KEY UPDATE`: rows that only point at the run (spans,
        new requests) may still be inserted meanwhile."""
        list(cls.objects.select_for_update(no_key=True).filter(id=run_id).values_list("id", flat=True))

    def cancel(self) -> bool:
        """Cancel it if still active: a conditional UPDATE, which also takes the run's lock
        first, before the caller cancels its requests (the lock order of `lock`)."""
        return bool(
            Run.objects.filter(id=self.id, status__in=self.ACTIVE).update(
                status=self.Status.CANCELLED, finished_at=timezone.now(), lease_owner="", lease_expires_at=None
            )
        )

    # --- the lease, renewed by the worker inside each step's checkpoint transaction -----------
    # Raw SQL on the checkpointer's own cursor (not Django's connection): `vendor`'s placeholder,
    # and ids and times already in the database's form. The caller reads the result off the cursor.

    # With `failing` (Postgres), the statement fails, and so the transaction with it, when the lease
    # is not held: a pipelined step can then queue COMMIT behind it without reading its result
    # first (one round trip, not two). The failure is a cast of text that is not a number, whose
    # message carries LEASE_LOST; the text depends on the row count, so Postgres cannot fold the
    # cast away when it plans the statement.
    LEASE_LOST = "steward: lease lost"

    @classmethod
    def _failing(cls, select_count: str) -> str:
        return (
            f"SELECT CAST(CASE WHEN count(*) = 1 THEN '1' ELSE '{cls.LEASE_LOST} (' || count(*) || ')' END AS integer) "
            f"{select_count}"
        )

    @classmethod
    def renew_lease_in(
        cls,
        cursor: Any,
        placeholder: str,
        run_id: Any,
        owner: str,
        expires_at: Any,
        active_seconds: float,
        failing: bool = False,
    ) -> None:
        """Extend the lease `owner` holds on the running run and store the seconds spent on it;
        `cursor.rowcount` is 1 if the lease was still held (with `failing`, see above)."""
        p = placeholder
        sql = (
            f"UPDATE {cls._meta.db_table} SET lease_expires_at = {p}, active_seconds = {p} "
            f"WHERE id = {p} AND lease_owner = {p} AND status = {p}"
        )
        if failing:
            sql = f"WITH renewed AS ({sql} RETURNING 1) " + cls._failing("FROM renewed")
        cursor.execute(sql, (expires_at, active_seconds, run_id, owner, cls.Status.RUNNING))

    @classmethod
    def check_lease_in(cls, cursor: Any, placeholder: str, run_id: Any, owner: str, now: Any, failing: bool = False) -> None:
        """Select the run if `owner` still holds an unexpired lease on it (`cursor.fetchone()`;
        with `failing`, see above)."""
        p = placeholder
        where = f"FROM {cls._meta.db_table} WHERE id = {p} AND lease_owner = {p} AND status = {p} AND lease_expires_at > {p}"
        cursor.execute(cls._failing(where) if failing else f"SELECT 1 {where}", (run_id, owner, cls.Status.RUNNING, now))

    # --- what the run carries beside its status ----------------------------------------------

    def fix_limits(self, limits: dict[str, Any]) -> None:
        """Fix the limits of a run created without them (they stay for the rest of the run)."""
        self.limits = limits
        Run.objects.filter(id=self.id).update(limits=limits)

    def raise_limits(self, limits: dict[str, Any], limit_breaches: list[dict[str, Any]]) -> None:
        """A reviewer let the run go over a limit: its new limits, and its breaches with the outcome."""
        Run.objects.filter(id=self.id).update(limits=limits, limit_breaches=limit_breaches)
        self.limits, self.limit_breaches = limits, limit_breaches

    def set_limit_breaches(self, limit_breaches: list[dict[str, Any]]) -> None:
        Run.objects.filter(id=self.id).update(limit_breaches=limit_breaches)
        self.limit_breaches = limit_breaches

    @classmethod
    def append_limit_breach(cls, run_id: uuid.UUID, entry: dict[str, Any]) -> None:
        """Add a breach to the run's history (inside the transaction that stops the run). The row
        is locked while it is read and written: two breaches at once must both stay."""
        with transaction.atomic():
            current = (
                cls.objects.select_for_update().filter(id=run_id).values_list("limit_breaches", flat=True).first()
                or []
            )
            cls.objects.filter(id=run_id).update(limit_breaches=[*current, entry])

    def save_metadata(self, metadata: dict[str, Any]) -> None:
        Run.objects.filter(id=self.id).update(metadata=metadata)
        self.metadata = metadata

    def save_metadata_if_unchanged(self, metadata: dict[str, Any]) -> bool:
        """Replace the metadata only if the row still has what this instance read (of two
        writers, one wins; the other reads again)."""
        if Run.objects.filter(id=self.id, metadata=self.metadata).update(metadata=metadata):
            self.metadata = metadata
            return True
        return False

    @classmethod
    def mark_pruned(cls, run_ids: list[uuid.UUID], now: datetime, days: int) -> int:
        """Retention deleted these runs' spans and checkpoints (the rows and totals stay)."""
        return cls.objects.filter(id__in=run_ids).update(pruned_at=now, pruned_after_days=days)


class IdempotencyRecord(models.Model):
    """One row per side effect: its key is unique, its result is what every repeat returns."""

    key = models.CharField(max_length=255, unique=True)
    action = models.CharField(max_length=200)
    args_hash = models.CharField(max_length=64)
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    result = models.JSONField(null=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.key


class Circuit(models.Model):
    """A model provider's circuit breaker, shared by every worker process (agents/engine/circuit.py).

    `closed`: calls go through; `failures` counts consecutive transient failures. `open`: calls
    fail fast (and fall back) until `opened_at` + the cool-down. `half_open`: one trial call,
    started at `trial_started_at`, decides: success closes the circuit, failure opens it again.
    Every change is one conditional UPDATE, so two workers never both take the trial.
    """

    class State(models.TextChoices):
        CLOSED = "closed"
        HALF_OPEN = "half_open"
        OPEN = "open"

    provider = models.CharField(max_length=100, unique=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.CLOSED)
    failures = models.PositiveIntegerField(default=0)
    # Every transient failure since the row was created: a counter for /metrics.
    failures_total = models.PositiveBigIntegerField(default=0)
    opened_at = models.DateTimeField(null=True, blank=True)
    trial_started_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "console"  # its table and migrations stay where they began
        ordering = ["provider"]

    def __str__(self) -> str:
        return f"{self.provider}: {self.state}"


class DeadLetterQuerySet(models.QuerySet["DeadLetter"]):
    def open(self) -> DeadLetterQuerySet:
        return self.filter(resolved_at__isnull=True)


class DeadLetter(models.Model):
    """A run that ended `failed` after every retry and fallback (or that the sweeper gave up on),
    waiting for an engineer to retry or dismiss it (agents/engine/dead_letters.py).

    One row per run: if the run fails again after a retry, the row opens again and counts it.
    """

    class Resolution(models.TextChoices):
        RETRIED = "retried"
        DISMISSED = "dismissed"
        # The run was retried elsewhere (the run page, the API) and then succeeded.
        RECOVERED = "recovered"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.OneToOneField("agents.Run", on_delete=models.CASCADE, related_name="dead_letter")
    # The error and attempts as they were when the run landed here: a retry clears the run's.
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # How many times the run has landed here.
    failures = models.PositiveIntegerField(default=1)
    failed_at = models.DateTimeField(default=timezone.now)
    emailed_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution = models.CharField(max_length=16, choices=Resolution.choices, blank=True)

    objects = DeadLetterQuerySet.as_manager()

    class Meta:
        app_label = "console"  # its table and migrations stay where they began
        ordering = ["-failed_at", "-id"]
        indexes = [
            # The list: open entries, newest first, keyset-paginated on (failed_at, id).
            models.Index(
                fields=["-failed_at", "-id"], name="deadletter_open", condition=models.Q(resolved_at__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"dead letter of run {self.run_id}"

    @classmethod
    def land(cls, run: Any, now: datetime | None = None) -> DeadLetter:
        """Put a failed run here (again): open, with its current error and attempts."""
        now = now or timezone.now()
        fields = {"error": run.error, "attempts": run.attempts, "failed_at": now}
        reopened = cls.objects.filter(run_id=run.id).update(
            **fields, failures=models.F("failures") + 1, resolved_at=None, resolved_by=None, resolution=""
        )
        if not reopened:
            try:
                with transaction.atomic():
                    return cls.objects.create(run_id=run.id, **fields)
            except IntegrityError:
                # Another process landed it at the same moment: count this one too.
                cls.objects.filter(run_id=run.id).update(failures=models.F("failures") + 1)
        return cls.objects.get(run_id=run.id)

    def resolve(self, resolution: str, user: Any = None) -> bool:
        """Close the entry once; False if it was already closed."""
        now = timezone.now()
        won = DeadLetter.objects.filter(pk=self.pk, resolved_at__isnull=True).update(
            resolved_at=now, resolved_by=user if getattr(user, "pk", None) else None, resolution=resolution
        )
        if won:
            self.resolved_at, self.resolution = now, resolution
            self.resolved_by = user if getattr(user, "pk", None) else None
        return bool(won)
