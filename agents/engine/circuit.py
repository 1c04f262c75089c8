"""A circuit breaker per model provider, shared by every worker process through the database.

A provider is the part before ":" in a model spec ("openai" in "openai:gpt-4o-mini"), or
"scripted" for the offline model in a list of models. Its circuit (`console.Circuit`):

- **closed**: calls go through. Each transient failure (agents/engine/reliability.py) adds one to
  `failures`; a success sets it back to 0. `failures` reaching the threshold opens the circuit.
- **open**: calls fail fast with `CircuitOpen` (the model wrapper falls back to the next model)
  until the cool-down has passed since `opened_at`.
- **half-open**: the first call after the cool-down takes the trial (a conditional UPDATE, so one
  caller in the whole installation wins); everyone else still fails fast. The trial's success
  closes the circuit, its failure opens it again for another cool-down. A trial that never
  reports (its worker died) is taken over after one more cool-down.

Hot path: the state is read from the database at most once a second per process and provider
(`cache_seconds`), and written only on a failure or when a success changes something. No lock
is held over a model call.

Settings (`STEWARD_CIRCUIT`, every key optional): `failures` (5) consecutive transient failures
open a circuit; `cooldown_seconds` (30) it stays open; `cache_seconds` (1.0) a process trusts
its last read.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from agents.engine.models import Circuit
from console.kernel.redaction import redact_text

__all__ = [
    "CircuitOpen",
    "Snapshot",
    "admit",
    "circuit_config",
    "configured_providers",
    "forget_cached",
    "provider_of",
    "record_failure",
    "record_success",
    "states",
]

log = logging.getLogger(__name__)

DEFAULTS: dict[str, float] = {"failures": 5, "cooldown_seconds": 30.0, "cache_seconds": 1.0}
# Enough of a provider's error to tell what happened on the dashboard.
ERROR_CHARS = 500


class CircuitOpen(RuntimeError):
    """The provider's circuit is open: the call was not made."""

    # Failing fast is the point: never retried (agents/engine/reliability.py reads this).
    steward_transient = False

    def __init__(self, provider: str, until: datetime | None) -> None:
        when = f" until {until:%Y-%m-%d %H:%M:%S} UTC" if until else " (a trial call is under way)"
        super().__init__(f"the circuit of model provider {provider!r} is open{when}: calls fail fast")
        self.provider = provider
        self.until = until


@dataclass(frozen=True)
class Snapshot:
    provider: str
    state: str = "closed"
    failures: int = 0
    failures_total: int = 0
    opened_at: datetime | None = None
    trial_started_at: datetime | None = None
    last_failure_at: datetime | None = None
    last_error: str = ""


def circuit_config() -> dict[str, float]:
    return {**DEFAULTS, **(getattr(settings, "STEWARD_CIRCUIT", None) or {})}


def provider_of(spec: str) -> str:
    """"openai" for "openai:gpt-4o-mini"; "scripted" for the offline model; else the spec itself."""
    spec = spec.strip()
    if spec.startswith("scripted"):
        return "scripted"
    return spec.split(":", 1)[0] if ":" in spec else spec


def configured_providers() -> list[str]:
    """Providers named by STEWARD_AGENT_MODELS and STEWARD_MODEL_<AGENT>: shown before they fail."""

    specs = list((getattr(settings, "STEWARD_AGENT_MODELS", None) or {}).values())
    specs += [value for key, value in os.environ.items() if key.startswith("STEWARD_MODEL_") and value]
    return sorted({provider_of(s) for spec in specs for s in str(spec).split(",") if ":" in s})


# --- the per-process cache of the last read --------------------------------------------------

_cache: dict[str, tuple[float, Snapshot]] = {}
_cache_lock = threading.Lock()
_FIELDS = ("provider", "state", "failures", "failures_total", "opened_at", "trial_started_at", "last_failure_at", "last_error")


def forget_cached() -> None:
    """Drop every cached read (tests, and a process that wants the truth now)."""
    with _cache_lock:
        _cache.clear()


def _read(provider: str) -> Snapshot:

    row = Circuit.objects.filter(provider=provider).values(*_FIELDS).first()
    snapshot = Snapshot(**row) if row else Snapshot(provider)
    with _cache_lock:
        _cache[provider] = (time.monotonic(), snapshot)
    return snapshot


def _current(provider: str) -> Snapshot:
    ttl = float(circuit_config()["cache_seconds"])
    with _cache_lock:
        cached = _cache.get(provider)
    if cached is not None and time.monotonic() - cached[0] < ttl:
        return cached[1]
    return _read(provider)


# --- the three moments of a call --------------------------------------------------------------


def admit(provider: str, now: datetime | None = None) -> bool:
    """May a call to `provider` go ahead? Returns True when this call is the half-open trial.

    Raises:
        CircuitOpen: the circuit is open and its cool-down has not passed, or another caller
            holds the trial.
    """
    snapshot = _current(provider)
    if snapshot.state == "closed":
        return False
    now = now or timezone.now()
    cooldown = timedelta(seconds=float(circuit_config()["cooldown_seconds"]))
    since = snapshot.opened_at if snapshot.state == "open" else snapshot.trial_started_at
    if since is not None and now < since + cooldown:
        raise CircuitOpen(provider, since + cooldown if snapshot.state == "open" else None)
    if _take_trial(provider, now, cooldown):
        log.info("circuit of model provider %r is half-open: trial call", provider)
        return True
    # The cached state was stale: another worker's trial may just have closed the circuit.
    if _read(provider).state == "closed":
        return False
    raise CircuitOpen(provider, None)


def _take_trial(provider: str, now: datetime, cooldown: timedelta) -> bool:

    due = now - cooldown
    won = Circuit.objects.filter(provider=provider).filter(
        Q(state=Circuit.State.OPEN, opened_at__lte=due) | Q(state=Circuit.State.HALF_OPEN, trial_started_at__lte=due)
    ).update(state=Circuit.State.HALF_OPEN, trial_started_at=now)
    with _cache_lock:
        _cache.pop(provider, None)
    return bool(won)


def record_success(provider: str, trial: bool = False) -> None:
    """The provider answered: close its circuit and clear its failures, if there is anything to clear."""

    snapshot = _current(provider)
    if not trial and snapshot.state == "closed" and snapshot.failures == 0:
        return  # the hot path: nothing to write
    changed = (
        Circuit.objects.filter(provider=provider)
        .exclude(state=Circuit.State.CLOSED, failures=0)
        .update(state=Circuit.State.CLOSED, failures=0, opened_at=None, trial_started_at=None)
    )
    if changed and snapshot.state != "closed":
        log.info("circuit of model provider %r closed: the provider answered", provider)
    _read(provider)


def record_failure(provider: str, error: BaseException | str, now: datetime | None = None) -> Snapshot:
    """A transient failure: count it; open the circuit at the threshold, or again after a failed trial.

    Returns:
        The circuit as it is now.
    """

    now = now or timezone.now()
    threshold = max(int(circuit_config()["failures"]), 1)

    text = redact_text(error if isinstance(error, str) else f"{type(error).__name__}: {error}")
    opens = Q(state=Circuit.State.HALF_OPEN) | Q(state=Circuit.State.CLOSED, failures__gte=threshold - 1)
    # One statement: every right-hand side reads the row as it was, so two workers failing at
    # once count two failures and the circuit opens once.
    updates: dict[str, Any] = {
        "failures": F("failures") + 1,
        "failures_total": F("failures_total") + 1,
        "last_failure_at": now,
        "last_error": text[:ERROR_CHARS],
        "state": Case(When(opens, then=Value(Circuit.State.OPEN)), default=F("state")),
        "opened_at": Case(When(opens, then=Value(now)), default=F("opened_at")),
        "trial_started_at": Case(When(opens, then=Value(None)), default=F("trial_started_at")),
    }
    if not Circuit.objects.filter(provider=provider).update(**updates):
        try:
            with transaction.atomic():
                Circuit.objects.create(provider=provider)
        except IntegrityError:
            pass  # created by another worker meanwhile
        Circuit.objects.filter(provider=provider).update(**updates)
    snapshot = _read(provider)
    if snapshot.state == "open" and snapshot.opened_at == now:
        # This failure opened it (a later one leaves opened_at as it was).
        log.warning(
            "circuit of model provider %r opened after %d consecutive failures: %s",
            provider, snapshot.failures, snapshot.last_error,
        )
    return snapshot


# --- what the dashboard and /metrics show -------------------------------------------------------


def states(now: datetime | None = None) -> list[dict[str, Any]]:
    """Every provider with a circuit row or a configured model, in one query.

    Returns:
        [{provider, state ("closed", "half_open", "open"), failures, failures_total, opened_at,
        retry_at (when an open circuit lets a trial through), last_failure_at, last_error}].
    """

    now = now or timezone.now()
    cooldown = timedelta(seconds=float(circuit_config()["cooldown_seconds"]))
    rows = {row["provider"]: row for row in Circuit.objects.values(*_FIELDS)}
    for provider in configured_providers():
        rows.setdefault(provider, asdict(Snapshot(provider)))
    out = []
    for provider in sorted(rows):
        row = dict(rows[provider])
        opened = row["opened_at"]
        row["retry_at"] = opened + cooldown if row["state"] == "open" and opened else None
        row["cooling_down"] = bool(row["retry_at"] and row["retry_at"] > now)
        out.append(row)
    return out
