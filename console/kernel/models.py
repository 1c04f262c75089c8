"""The kernel's tables: API keys (programs authenticate with `Authorization: Bearer <key>`; only a
hash is stored) and the append-only audit log. Django knows them as models of the `console` and
`approvals` apps, so their tables and migrations did not move."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, models
from django.utils import timezone

from console.kernel.raw_rows import columns, instance_from_row
from console.kernel.roles import remember_groups

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
    def find(cls, raw: str) -> ApiKey | None:
        """The usable key with this raw value, its user joined, if the user is active; records
        nothing (console/kernel/auth.py `api_key_of` looks it up once per request)."""
        if connection.vendor == "postgresql":
            return cls._find_with_groups(hash_key(raw))
        key = cls.objects.usable().select_related("user").filter(key_hash=hash_key(raw)).first()
        return key if key is not None and key.user.is_active else None

    @classmethod
    def _find_with_groups(cls, key_hash: str) -> ApiKey | None:
        """`find` on Postgres in one hand-written statement, the owner's groups with it (the
        view's role check needs them next). Every API request makes it: the ORM took longer to
        build this query (its group subquery) than Postgres took to answer it."""
        User = get_user_model()
        # Every name from the models' metadata: a custom user model names its own columns.
        memberships: Any = User._meta.get_field("groups")
        owner = ApiKey.user.field.column
        member, group = memberships.m2m_column_name(), memberships.m2m_reverse_name()
        # AbstractBaseUser's is_active is a class attribute, not a column, unless the model adds one.
        active = " AND u.is_active" if any(f.name == "is_active" for f in User._meta.concrete_fields) else ""
        sql = (
            f"SELECT {columns(cls, 'k')}, {columns(User, 'u')}, "
            f"ARRAY(SELECT g.name FROM {Group._meta.db_table} g JOIN {memberships.m2m_db_table()} m "
            f"ON m.{group} = g.{Group._meta.pk.column} WHERE m.{member} = k.{owner}) "
            f"FROM {cls._meta.db_table} k JOIN {User._meta.db_table} u ON u.{User._meta.pk.column} = k.{owner} "
            f"WHERE k.key_hash = %s AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > %s){active} LIMIT 1"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [key_hash, timezone.now()])
            row = cursor.fetchone()
        if row is None:
            return None
        split = len(cls._meta.concrete_fields)
        key = instance_from_row(cls, row[:split])
        key.user = instance_from_row(User, row[split:-1])
        if not key.user.is_active:  # a user model whose is_active is not a column
            return None
        remember_groups(key.user, list(row[-1]))
        return key

    def record_use(self) -> None:
        now = timezone.now()
        resolution = timedelta(seconds=settings.API_KEY_LAST_USED_RESOLUTION_SECONDS)
        # Record use at most once a minute: no write on every request.
        if self.last_used_at is None or now - self.last_used_at > resolution:
            ApiKey.objects.filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now

    @classmethod
    def authenticate(cls, raw: str) -> ApiKey | None:
        key = cls.find(raw)
        if key is not None:
            key.record_use()
        return key

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            ApiKey.objects.filter(pk=self.pk, revoked_at__isnull=True).update(revoked_at=self.revoked_at)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


class AuditEvent(models.Model):
    """Append-only record of every decision and change a person or rule makes.

    Each row carries the hash of the row before it and of its own content, so a changed or
    removed row breaks the chain (`manage.py verify_audit`); on Postgres a trigger refuses
    UPDATE and DELETE outright.
    """

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+",
        db_constraint=False,
    )
    action = models.CharField(max_length=100)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=100)
    data = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64, blank=True)

    class Meta:
        app_label = "approvals"  # its table and migrations stay where they began
        ordering = ["id"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object")]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id}"

    def content_hash(self) -> str:
        content = {
            "at": self.at.isoformat(),
            "actor": self.actor_id,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "data": self.data,
        }
        return hashlib.sha256((self.prev_hash + _canonical(content)).encode()).hexdigest()
