"""The runs list's filters, sorting and keyset pagination: one definition for the page and the API.

Every filter lives in the query string, so a filtered view is a link to share. Bad values are
reported field by field (the API answers 422, the page shows a message) and never reach SQL.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import BooleanField, Exists, OuterRef, Q, QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast
from django.utils.dateparse import parse_datetime

from agents.engine.models import Agent, Run
from agents.prompts.models import PromptVersion, RunPromptVersion
from approvals.models import ApprovalRequest
from console.kernel.cursors import decode_cursor, decode_raw, encode_cursor
from console.kernel.errors import Invalid
from traces.inspection.feedback import filter_runs
from traces.recording.models import Span

__all__ = ["SORTS", "RunFilters", "SEARCH_SQL"]

# sort name → (field, descending)
SORTS: dict[str, tuple[str, bool]] = {
    "-created": ("created_at", True),
    "created": ("created_at", False),
    "-duration": ("latency_ms", True),
    "duration": ("latency_ms", False),
    "-cost": ("cost", True),
    "cost": ("cost", False),
    "-steps": ("steps", True),
}

# The full-text document of a run: its input, output and error. The same expression is indexed
# (agents migration 0004), so the planner can use the GIN index.
SEARCH_SQL = "to_tsvector('simple', input::text || ' ' || coalesce(output::text, '') || ' ' || error)"
FILTER_FIELDS = (
    "status", "agent", "since", "until", "tag", "meta", "has_error", "cost_min", "cost_max",
    "duration_min", "duration_max", "started_by", "waiting_approval", "model", "feedback", "prompt", "q", "sort",
)
# `prompt=name` (runs that pinned any version of it) or `prompt=name@3` (that version).
PROMPT_FILTER = re.compile(r"^(?P<name>[-a-zA-Z0-9_]{1,100})(?:@(?P<number>[0-9]{1,9}))?$")


@dataclass
class RunFilters:
    status: str = ""
    agent: str = ""
    since: datetime | None = None
    until: datetime | None = None
    tag: str = ""
    meta: tuple[str, str] | None = None
    has_error: bool | None = None
    cost_min: float | None = None
    cost_max: float | None = None
    duration_min: float | None = None
    duration_max: float | None = None
    started_by: str = ""
    waiting_approval: bool = False
    model: str = ""
    feedback: str = ""
    prompt: tuple[str, int | None] | None = None
    q: str = ""
    sort: str = "-created"
    cursor: tuple[Any, uuid.UUID] | None = None
    raw: dict[str, str] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def parse(cls, params: Any) -> RunFilters:
        """From a QueryDict or dict of strings; problems go to `errors` as {loc, msg}."""
        get = params.get
        f = cls(raw={k: str(get(k)) for k in (*FILTER_FIELDS, "cursor") if get(k) not in (None, "")})

        def problem(name: str, msg: str) -> None:
            f.errors.append({"loc": ["query", name], "msg": msg})

        status = get("status") or ""
        if status and status not in Run.Status.values:
            problem("status", f"must be one of {', '.join(Run.Status.values)}")
        else:
            f.status = status
        f.agent = (get("agent") or "")[:100]
        f.started_by = (get("started_by") or "")[:150]
        f.model = (get("model") or "")[:200]
        f.tag = (get("tag") or "")[:100]
        f.q = (get("q") or "").strip()[:200]
        for name in ("since", "until"):
            raw = get(name)
            if raw:
                when = parse_datetime(raw)
                if when is None:
                    problem(name, "must be an ISO date and time, e.g. 2026-11-20T10:00:00Z")
                else:
                    setattr(f, name, when if when.tzinfo else when.replace(tzinfo=UTC))
        meta = get("meta")
        if meta:
            key, sep, value = meta.partition("=")
            if not sep or not key.strip() or not key.strip().replace("_", "").replace("-", "").isalnum():
                problem("meta", "must look like key=value (letters, digits, - and _ in the key)")
            else:
                f.meta = (key.strip(), value)
        for name in ("cost_min", "cost_max", "duration_min", "duration_max"):
            raw = get(name)
            if raw:
                try:
                    number = float(Decimal(raw))
                    if number < 0 or number != number:
                        raise InvalidOperation
                    setattr(f, name, number)
                except (InvalidOperation, ValueError):
                    problem(name, "must be a number of at least 0")
        for name in ("has_error", "waiting_approval"):
            raw = (get(name) or "").lower()
            if raw in ("1", "true", "yes", "on"):
                setattr(f, name, True)
            elif raw in ("0", "false", "no", "off"):
                setattr(f, name, False)
            elif raw:
                problem(name, "must be true or false")
        feedback = get("feedback") or ""
        if feedback and feedback not in ("up", "down", "none"):
            problem("feedback", "must be up, down or none")
        else:
            f.feedback = feedback
        prompt = (get("prompt") or "").strip()
        if prompt:
            match = PROMPT_FILTER.match(prompt)
            if match is None:
                problem("prompt", "must be a prompt name or name@version, e.g. refund_system@2")
            else:
                version = match.group("number")
                f.prompt = (match.group("name"), int(version) if version else None)
        sort = get("sort") or "-created"
        if sort not in SORTS:
            problem("sort", f"must be one of {', '.join(SORTS)}")
        else:
            f.sort = sort
        cursor = get("cursor")
        if cursor:
            try:
                if SORTS[f.sort][0] == "created_at":
                    f.cursor = decode_cursor(cursor)
                else:
                    value, run_id = decode_raw(cursor)
                    if not isinstance(value, (int, float)):
                        raise Invalid([])
                    f.cursor = (value, run_id)
            except Invalid:
                problem("cursor", "invalid cursor")
        return f

    def apply(self, runs: QuerySet[Run]) -> QuerySet[Run]:

        if self.status:
            runs = runs.filter(status=self.status)
        if self.agent:
            # By id, looked up first: the planner then knows how common that agent's runs are and
            # walks the right index (through the join it guessed, and sorted thousands of rows).
            runs = runs.filter(agent_id__in=list(Agent.objects.filter(key=self.agent).values_list("id", flat=True)))
        if self.since:
            runs = runs.filter(created_at__gte=self.since)
        if self.until:
            runs = runs.filter(created_at__lt=self.until)
        if self.tag:
            if connection.vendor == "postgresql":
                runs = runs.filter(metadata__tags__contains=[self.tag])
            else:
                runs = runs.annotate(metadata_text=Cast("metadata", TextField())).filter(
                    metadata_text__contains=json.dumps(self.tag)
                )
        if self.meta:
            runs = runs.filter(**{f"metadata__{self.meta[0]}": self.meta[1]})
        if self.has_error is True:
            runs = runs.exclude(error="")
        elif self.has_error is False:
            runs = runs.filter(error="")
        if self.cost_min is not None:
            runs = runs.filter(cost__gte=self.cost_min)
        if self.cost_max is not None:
            runs = runs.filter(cost__lte=self.cost_max)
        if self.duration_min is not None:
            runs = runs.filter(latency_ms__gte=self.duration_min)
        if self.duration_max is not None:
            runs = runs.filter(latency_ms__lte=self.duration_max)
        if self.started_by:
            # By id, for the same reason as the agent: the run_creator_created index serves the page.
            starters = get_user_model().objects.filter(username=self.started_by).values_list("id", flat=True)
            runs = runs.filter(created_by_id__in=list(starters))
        if self.waiting_approval:
            pending = ApprovalRequest.objects.filter(run=OuterRef("pk"), status=ApprovalRequest.Status.PENDING)
            runs = runs.filter(status=Run.Status.WAITING).filter(Exists(pending))
        if self.model:

            runs = runs.filter(Exists(Span.objects.filter(run=OuterRef("pk"), kind=Span.Kind.MODEL, model=self.model)))
        if self.prompt:
            runs = runs.filter(Exists(self._prompt_pins()))
        if self.feedback:
            runs = filter_runs(runs, self.feedback)
        if self.q:
            if connection.vendor == "postgresql":
                runs = runs.filter(
                    RawSQL(f"{SEARCH_SQL} @@ plainto_tsquery('simple', %s)", [self.q], output_field=BooleanField())
                )
            else:
                runs = runs.annotate(
                    _input=Cast("input", TextField()), _output=Cast("output", TextField())
                ).filter(Q(_input__icontains=self.q) | Q(_output__icontains=self.q) | Q(error__icontains=self.q))
        field_name, descending = SORTS[self.sort]
        if self.cursor:
            value, run_id = self.cursor
            op = "lt" if descending else "gt"
            # The bound alone (`<=`) is what the sort index can seek to; the OR then only decides
            # ties. Without it a deep page walked and filtered every row before its cursor.
            runs = runs.filter(
                Q(**{f"{field_name}__{op}e": value}),
                Q(**{f"{field_name}__{op}": value}) | Q(**{field_name: value, f"id__{op}": run_id}),
            )
        prefix = "-" if descending else ""
        return runs.order_by(f"{prefix}{field_name}", f"{prefix}id")

    def _prompt_pins(self) -> QuerySet[Any]:
        """The outer run's pins on the chosen prompt (or version). The versions are a small
        subquery, so each EXISTS is a probe of the (run, version) unique index."""
        assert self.prompt is not None
        name, number = self.prompt
        versions = PromptVersion.objects.filter(prompt__name=name)
        if number is not None:
            versions = versions.filter(number=number)
        return RunPromptVersion.objects.filter(run=OuterRef("pk"), version__in=versions.values("id"))

    def page(self, runs: QuerySet[Run], limit: int) -> tuple[list[Run], str | None]:
        """One page and the cursor of the next, if any."""
        rows = list(self.apply(runs)[: limit + 1])
        more = len(rows) > limit
        rows = rows[:limit]
        field_name = SORTS[self.sort][0]
        next_cursor = encode_cursor(getattr(rows[-1], field_name), rows[-1].id) if more and rows else None
        return rows, next_cursor

    def query_without(self, *names: str) -> str:
        """The current filters as a query string, minus some (for sort links and 'next page')."""

        return urlencode({k: v for k, v in self.raw.items() if k not in names})
