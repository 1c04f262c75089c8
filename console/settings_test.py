"""Test settings: real Postgres and Redis where they answer, SQLite and memory otherwise.

With REQUIRE_SERVICES=1 (CI) a missing Postgres or Redis is an error, never a silent fallback.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/steward")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _reachable(url: str) -> bool:
    parts = urlparse(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=1):
            return True
    except OSError:
        return False


POSTGRES_AVAILABLE = _reachable(TEST_DATABASE_URL)
REDIS_AVAILABLE = _reachable(TEST_REDIS_URL)
if REQUIRE_SERVICES and not (POSTGRES_AVAILABLE and REDIS_AVAILABLE):
    raise ImproperlyConfigured(
        f"REQUIRE_SERVICES=1 but Postgres ({TEST_DATABASE_URL}: {POSTGRES_AVAILABLE}) "
        f"or Redis ({TEST_REDIS_URL}: {REDIS_AVAILABLE}) is not reachable"
    )
if POSTGRES_AVAILABLE:
    os.environ["DATABASE_URL"] = TEST_DATABASE_URL
if REDIS_AVAILABLE:
    os.environ["CELERY_BROKER_URL"] = TEST_REDIS_URL
    os.environ["CHANNEL_LAYER_URL"] = TEST_REDIS_URL
os.environ.setdefault("STEWARD_AGENT_MODULES", "tests.support.graphs")
os.environ.setdefault("STEWARD_VAR_DIR", os.path.join(os.path.dirname(__file__), "..", "var", "test"))

from console.settings import *  # noqa: E402,F403

# MD5 for speed; PBKDF2 too, for users the browser tests log in to a server on the normal settings.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", "django.contrib.auth.hashers.PBKDF2PasswordHasher"]

# The test process itself holds one connection per test thread, as pytest-django expects (its
# concurrency tests open more threads than a web process's pool lends). The servers and workers
# the tests start as processes use the pool as configured, the default included.
if DATABASES["default"].get("OPTIONS", {}).pop("pool", None):  # noqa: F405
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60)  # noqa: F405
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False  # noqa: F405
