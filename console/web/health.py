"""Health checks (the home page is console/web/dashboard_views.py; login lives in django.contrib.auth)."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from agents.engine.checkpointer import checkpointer
from console.celery import app


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up (no dependencies checked)."""
    return JsonResponse({"status": "ok"})


def _check(fn: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the point is to report any failure
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 2)}


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _broker() -> None:

    if settings.CELERY_BROKER_URL.startswith("memory://"):
        return
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


def _checkpointer() -> None:

    with checkpointer() as saver:
        saver.get_tuple({"configurable": {"thread_id": "readyz", "checkpoint_ns": ""}})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Database, broker and checkpointer reachable: 200, else 503 naming what failed."""
    checks = {"database": _check(_database), "broker": _check(_broker), "checkpointer": _check(_checkpointer)}
    ready = all(c["ok"] for c in checks.values())
    return JsonResponse({"status": "ready" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)
