"""STEWARD_LOG_FORMAT picks the log format for every standard-library logger, at start."""

from __future__ import annotations

import json
import logging
import subprocess

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.support.logs import json_log_lines
from tests.support.processes import fresh_django, fresh_env


def _log_from_fresh_process(**env: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('steward.check').warning('hello %s', 'there', extra={'queue': 'payments'})"
    )
    return fresh_django("-c", code, env=fresh_env(without=("STEWARD_LOG_FORMAT", "DEBUG"), **env), timeout=60)


def _json_line(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert done.returncode == 0, done.stderr
    (line,) = [json.loads(raw) for raw in done.stderr.splitlines() if raw.strip()]
    return line


def test_json_format_turns_a_plain_logging_call_into_one_json_line() -> None:
    """With STEWARD_LOG_FORMAT=json a plain logging call is one JSON object, its extras included."""
    line = _json_line(_log_from_fresh_process(STEWARD_LOG_FORMAT="json"))
    assert line["event"] == "hello there" and line["level"] == "warning" and line["logger"] == "steward.check"
    assert line["queue"] == "payments" and str(line["timestamp"]).endswith("Z")


def test_json_is_the_default_without_debug_and_console_with_it() -> None:
    """DEBUG off logs JSON unless told otherwise; DEBUG on logs readable key=value lines."""
    line = _json_line(_log_from_fresh_process(DEBUG="0", SECRET_KEY="a-real-secret-for-this-test"))
    assert line["event"] == "hello there"

    readable = _log_from_fresh_process(DEBUG="1")
    assert readable.returncode == 0, readable.stderr
    assert "hello there" in readable.stderr and "queue=payments" in readable.stderr
    assert not readable.stderr.lstrip().startswith("{")


def test_an_unknown_format_stops_the_process_at_start() -> None:
    bad = _log_from_fresh_process(STEWARD_LOG_FORMAT="xml")
    assert bad.returncode != 0 and "STEWARD_LOG_FORMAT must be one of json, console" in bad.stderr


@pytest.mark.django_db
def test_a_forbidden_page_logs_one_warning_line_without_a_traceback(
    engineer: User, caplog: pytest.LogCaptureFixture
) -> None:
    """An engineer opening the approvals inbox gets the 403 page; that is not an error, so the log
    gets one WARNING line naming the path and no traceback (Django's django.request logger used
    to attach the PermissionDenied traceback)."""
    client = Client()
    client.force_login(engineer)
    with caplog.at_level(logging.INFO), json_log_lines({"django.request": logging.INFO}) as stream:
        response = client.get("/approvals/")
    assert response.status_code == 403
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(records) == 1, [r.getMessage() for r in records]
    (record,) = records
    assert record.levelno == logging.WARNING and record.name == "django.request"
    assert "/approvals/" in record.getMessage()
    assert record.exc_info is None and record.exc_text is None
    assert "Traceback" not in caplog.text
    (line,) = [json.loads(raw) for raw in stream.getvalue().splitlines() if raw.strip()]
    assert line["level"] == "warning" and "/approvals/" in line["event"]
    assert "exception" not in line and "Traceback" not in stream.getvalue()
