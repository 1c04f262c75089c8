"""STEWARD_LOG_FORMAT picks the log format for every standard-library logger, at start."""

from __future__ import annotations

import json
import subprocess

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
