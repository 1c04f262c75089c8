"""API keys (programs authenticate with `Authorization: Bearer <key>`; only a hash is stored),
model providers' circuit breakers, and the dead-letter list of failed runs."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone

KEY_PREFIX = "stw_"
# Days a key may be issued to live, on the keys page and in `manage.py create_api_key` alike.
EXPIRY_DAYS_MIN = 1
EXPIRY_DAYS_MAX = 3650


def hash_key(raw: str) -> str:
    # Keys are 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def usable(self) -> ApiKeyQuerySet:
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiKey(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @classmethod
    def issue(cls, user: Any, name: str = "", expires_in_days: int | None = None) -> tuple[ApiKey, str]:
        """Create a key; returns the row and the raw key, which is never stored or shown again."""
        raw = KEY_PREFIX + secrets.token_urlsafe(32)
        expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        key = cls.objects.create(
            user=user, name=name, prefix=raw[:12], key_hash=hash_key(raw), expires_at=expires_at
        )
        return key, raw

    @classmethod
    def authenticate(cls, raw: str) -> ApiKey | None:
        key = cls.objects.usable().select_related("user").filter(key_hash=hash_key(raw)).first()
        if key is None or not key.user.is_active:
            return None
        now = timezone.now()
        resolution = timedelta(seconds=settings.API_KEY_LAST_USED_RESOLUTION_SECONDS)
        # Record use at most once a minute: no write on every request.
        if key.last_used_at is None or now - key.last_used_at > resolution:
            cls.objects.filter(pk=key.pk).update(last_used_at=now)
        return key

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            ApiKey.objects.filter(pk=self.pk, revoked_at__isnull=True).update(revoked_at=self.revoked_at)


class Circuit(models.Model):
    """A model provider's circuit breaker, shared by every worker process (agents/circuit.py).

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
        ordering = ["provider"]

    def __str__(self) -> str:
        return f"{self.provider}: {self.state}"


class DeadLetterQuerySet(models.QuerySet["DeadLetter"]):
    def open(self) -> DeadLetterQuerySet:
        return self.filter(resolved_at__isnull=True)


class DeadLetter(models.Model):
    """A run that ended `failed` after every retry and fallback (or that the sweeper gave up on),
    waiting for an engineer to retry or dismiss it (console/dead_letters.py).

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
