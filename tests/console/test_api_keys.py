"""API keys: `manage.py create_api_key` prints a key once, only its hash is stored, and the key
authenticates programs until it is revoked or expires."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from console.kernel.models import ApiKey

RUNS = "/api/runs"


def create_key(username: str, *args: str) -> tuple[str, str, str]:
    """Run the command; returns (raw key, stdout, stderr)."""
    out, err = StringIO(), StringIO()
    call_command("create_api_key", username, *args, stdout=out, stderr=err)
    stdout = out.getvalue()
    lines = stdout.rstrip("\n").split("\n")
    return lines[-1], stdout, err.getvalue()


def get_runs(raw: str) -> int:
    return Client().get(RUNS, headers={"Authorization": f"Bearer {raw}"}).status_code


def test_command_prints_the_key_alone_on_the_last_line(engineer: User) -> None:
    """The key is the whole last line of stdout (so scripts can `tail -1`), and is shown nowhere else."""
    raw, stdout, stderr = create_key("engineer")
    assert raw == raw.strip() and " " not in raw
    assert raw.startswith("stw_") and len(raw) > 40
    assert stdout.count(raw) == 1
    assert raw not in stderr
    key = ApiKey.objects.get()
    assert key.user == engineer
    assert raw.startswith(key.prefix)


def test_only_the_sha256_hash_is_stored(engineer: User) -> None:
    """The row holds sha256(key); the raw key appears in no column of the table."""
    raw, _, _ = create_key("engineer", "--name", "ci")
    key = ApiKey.objects.get()
    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert key.name == "ci"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {ApiKey._meta.db_table}")
        rows = cursor.fetchall()
    assert len(rows) == 1
    for value in rows[0]:
        assert raw not in str(value)


def test_the_key_authenticates(engineer: User) -> None:
    """The printed key authenticates GET /api/runs as its user."""
    raw, _, _ = create_key("engineer")
    assert get_runs(raw) == 200


def test_two_keys_are_different(engineer: User) -> None:
    """Each call issues a fresh key; both work."""
    first, _, _ = create_key("engineer")
    second, _, _ = create_key("engineer")
    assert first != second
    assert ApiKey.objects.count() == 2
    assert get_runs(first) == 200 and get_runs(second) == 200


def test_unknown_user_is_a_command_error(db: None) -> None:
    """An unknown username is a CommandError naming it; no key is created."""
    with pytest.raises(CommandError, match="nobody"):
        create_key("nobody")
    assert not ApiKey.objects.exists()


def test_revoked_key_is_refused(engineer: User) -> None:
    """After revoke() the key is 401; other keys of the user keep working."""
    raw, _, _ = create_key("engineer")
    other, _, _ = create_key("engineer")
    key = ApiKey.objects.get(key_hash=hashlib.sha256(raw.encode()).hexdigest())
    assert get_runs(raw) == 200
    key.revoke()
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    assert get_runs(raw) == 401
    assert get_runs(other) == 200


def test_expiring_key(engineer: User) -> None:
    """--expires-in-days sets the expiry; once it passes the key is 401."""
    raw, _, _ = create_key("engineer", "--expires-in-days", "7")
    key = ApiKey.objects.get()
    assert key.expires_at is not None
    assert timedelta(days=6, hours=23) < key.expires_at - timezone.now() <= timedelta(days=7)
    assert get_runs(raw) == 200
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert get_runs(raw) == 401


def test_last_used_at_is_set_after_use(engineer: User) -> None:
    """A new key has never been used; after one request last_used_at is set to about now."""
    raw, _, _ = create_key("engineer")
    key = ApiKey.objects.get()
    assert key.last_used_at is None
    before = timezone.now()
    assert get_runs(raw) == 200
    key.refresh_from_db()
    assert key.last_used_at is not None
    assert before <= key.last_used_at <= timezone.now()


def test_refused_key_is_not_marked_used(engineer: User) -> None:
    """A request with a revoked key does not update last_used_at."""
    raw, _, _ = create_key("engineer")
    key = ApiKey.objects.get()
    key.revoke()
    assert get_runs(raw) == 401
    key.refresh_from_db()
    assert key.last_used_at is None


@pytest.mark.parametrize("days", ["0", "-1", "3651"])
def test_expiry_outside_the_keys_page_range_is_a_command_error(engineer: User, days: str) -> None:
    """--expires-in-days takes what the keys page takes, 1 to 3650: 0 used to make a key that never
    expires and a negative number a key dead on arrival. No key is created."""
    with pytest.raises(CommandError, match="between 1 and 3650"):
        create_key("engineer", "--expires-in-days", days)
    assert not ApiKey.objects.exists()


def test_expiry_at_the_edges_of_the_range_is_accepted(engineer: User) -> None:
    create_key("engineer", "--expires-in-days", "1")
    create_key("engineer", "--expires-in-days", "3650")
    assert ApiKey.objects.filter(expires_at__isnull=False).count() == 2


def test_a_deactivated_owner_s_key_is_refused_and_a_role_change_counts_at_once(engineer: User) -> None:
    """The key is looked up with its owner's groups in one statement: a deactivated owner's key is
    401, and a group taken away is a 403 on the very next request."""
    raw, _, _ = create_key("engineer")
    assert get_runs(raw) == 200
    found = ApiKey.find(raw)
    assert found is not None and found.user.pk == engineer.pk and found.user.username == "engineer"
    engineer.groups.clear()
    assert get_runs(raw) == 403
    engineer.is_active = False
    engineer.save(update_fields=["is_active"])
    assert ApiKey.find(raw) is None
    assert get_runs(raw) == 401
