"""Encryption of LangGraph checkpoints: on by default with a key derived from SECRET_KEY, or
with STEWARD_CHECKPOINT_ENCRYPTION_KEY's keys; `off` stores them in plain text."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path
from typing import Any, TypedDict

import pytest
from django.db import connection
from django.test import override_settings
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from agents.demo.models import Refund
from agents.engine import checkpointer as checkpointer_module
from agents.engine import runtime
from agents.engine.models import Run
from agents.engine.services import start_run
from approvals.models import ApprovalRequest
from approvals.services import decide
from console.kernel.sealing import generate_key
from tests.support.processes import fresh_django, fresh_env
from traces.inspection.replay import retry

KEY = generate_key()
OFF = "off"
NEW_SECRET = "a-new-secret-key-" + "y" * 40
ORDER = "R-ZEBRA-7731"
REASON = "parcel crushed by a zebra"


def _refund(engineer: Any) -> Run:
    """A refund over 100: it runs to the approval gate and waits."""
    run = start_run("refund", {"order_id": ORDER, "amount": 300, "reason": REASON}, engineer)
    assert runtime.execute(run.id) == "waiting"
    return run


def _checkpoint_bytes(thread_id: str) -> list[tuple[str, bytes]]:
    """Every stored part of the thread's checkpoints: (what, its bytes as stored)."""
    parts: list[tuple[str, bytes]] = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT checkpoint::text, metadata::text FROM checkpoints WHERE thread_id = %s", [thread_id])
        for checkpoint, metadata in cursor.fetchall():
            parts += [("checkpoint json", checkpoint.encode()), ("metadata", metadata.encode())]
        for table in ("checkpoint_blobs", "checkpoint_writes"):
            cursor.execute(f"SELECT type, blob FROM {table} WHERE thread_id = %s", [thread_id])
            parts += [(f"{table} {kind}", bytes(blob)) for kind, blob in cursor.fetchall() if blob is not None]
    assert parts, "the thread has checkpoints"
    return parts


def _approve_and_resume(run: Run, reviewer: Any) -> str | None:
    decide(ApprovalRequest.objects.get(run=run, status="pending").id, reviewer, "approve")
    return runtime.execute(run.id)


def _assert_no_plain_state(thread_id: str) -> None:
    parts = _checkpoint_bytes(thread_id)
    for what, data in parts:
        assert ORDER.encode() not in data and REASON.encode() not in data, f"{what} holds the state in plain text"
    stored = [what for what, _ in parts if what.startswith("checkpoint_")]
    assert stored and all(what.endswith("+aesgcm") for what in stored), stored


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_checkpoints_are_encrypted_by_default_and_the_run_resumes(engineer: Any, reviewer: Any, settings: Any) -> None:
    """No setting: the key is derived from SECRET_KEY, and the gated refund still waits and resumes."""
    settings.STEWARD_CHECKPOINT_ENCRYPTION_KEY = ""
    run = _refund(engineer)
    _assert_no_plain_state(run.thread_id)
    assert _approve_and_resume(run, reviewer) == "succeeded"
    _assert_no_plain_state(run.thread_id)
    assert Refund.objects.filter(order_id=ORDER).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_derived_key_follows_secret_key_rotation(engineer: Any, reviewer: Any, settings: Any) -> None:
    """A new SECRET_KEY with the old one in SECRET_KEY_FALLBACKS: the waiting run resumes. Without
    the old one it fails saying which key is missing, and resumes once the fallback is back."""
    settings.STEWARD_CHECKPOINT_ENCRYPTION_KEY = ""
    old = settings.SECRET_KEY
    run = _refund(engineer)
    with override_settings(SECRET_KEY=NEW_SECRET, SECRET_KEY_FALLBACKS=[]):
        assert _approve_and_resume(run, reviewer) == "failed"
    run.refresh_from_db()
    assert "does not decrypt with the checkpoint key" in run.error and "SECRET_KEY_FALLBACKS" in run.error
    assert not Refund.objects.filter(order_id=ORDER).exists()
    with override_settings(SECRET_KEY=NEW_SECRET, SECRET_KEY_FALLBACKS=[old]):
        retry(run, engineer)
        assert runtime.execute(run.id) == "succeeded"
    assert Refund.objects.filter(order_id=ORDER).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_encrypted_checkpoints_hold_no_plain_state_and_the_run_resumes(engineer: Any, reviewer: Any) -> None:
    with override_settings(STEWARD_CHECKPOINT_ENCRYPTION_KEY=KEY):
        run = _refund(engineer)
        _assert_no_plain_state(run.thread_id)
        assert _approve_and_resume(run, reviewer) == "succeeded"
    assert Refund.objects.filter(order_id=ORDER).count() == 1
    run.refresh_from_db()
    assert "refunded" in run.output["answer"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_string_channels_are_not_left_inline_in_plain_text(engineer: Any) -> None:
    """LangGraph's Postgres saver keeps str/int/float/bool channel values in the checkpoint's JSON
    column; encrypted, they go to the blobs. The `known` test agent's state is all strings."""
    for key in (KEY, ""):
        with override_settings(STEWARD_CHECKPOINT_ENCRYPTION_KEY=key):
            run = start_run("known", {"topic": "zebra crossings"}, engineer)
            assert runtime.execute(run.id) == "succeeded"
            for what, data in _checkpoint_bytes(run.thread_id):
                assert b"zebra" not in data, f"{what} holds the state in plain text (key {key!r})"
            run.refresh_from_db()
            assert "zebra crossings" in run.output["result"]
    with override_settings(STEWARD_CHECKPOINT_ENCRYPTION_KEY=OFF):
        plain = start_run("known", {"topic": "zebra crossings"}, engineer)
        assert runtime.execute(plain.id) == "succeeded"
    assert any(b"zebra" in data for what, data in _checkpoint_bytes(plain.thread_id) if what == "checkpoint json")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_plain_checkpoints_stay_readable_once_encryption_is_on(engineer: Any, reviewer: Any) -> None:
    """A run waiting since before the upgrade (or written with encryption off) still resumes."""
    with override_settings(STEWARD_CHECKPOINT_ENCRYPTION_KEY=OFF):
        run = _refund(engineer)
    assert any(ORDER.encode() in data for _, data in _checkpoint_bytes(run.thread_id)), "written in plain text"
    with override_settings(STEWARD_CHECKPOINT_ENCRYPTION_KEY=""):
        assert _approve_and_resume(run, reviewer) == "succeeded"
    assert Refund.objects.filter(order_id=ORDER).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_switching_encryption_off_fails_runs_with_encrypted_checkpoints_clearly(engineer: Any, reviewer: Any) -> None:
    with override_settings(STEWARD_CHECKPOINT_ENCRYPTION_KEY=KEY):
        run = _refund(engineer)
    with override_settings(STEWARD_CHECKPOINT_ENCRYPTION_KEY=OFF):
        assert _approve_and_resume(run, reviewer) == "failed"
    run.refresh_from_db()
    assert "encrypted" in run.error and "STEWARD_CHECKPOINT_ENCRYPTION_KEY is off" in run.error
    assert not Refund.objects.filter(order_id=ORDER).exists()
    # With the key back, a retry continues where it stopped: the approved refund is made once.
    with override_settings(STEWARD_CHECKPOINT_ENCRYPTION_KEY=KEY):
        retry(run, engineer)
        assert runtime.execute(run.id) == "succeeded"
    assert Refund.objects.filter(order_id=ORDER).count() == 1


class _Note(TypedDict):
    note: str
    answer: str


def _ask(state: _Note) -> dict[str, Any]:
    return {"answer": str(interrupt({"question": f"send {state['note']}?"}))}


@pytest.mark.parametrize("key", [KEY, ""], ids=["set key", "derived key"])
def test_the_sqlite_saver_encrypts_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Any, key: str) -> None:
    """The embedded setup's saver (`make demo`), on a file of its own: nothing of the state in the file."""
    path = tmp_path / "checkpoints.sqlite3"
    setup = sqlite3.connect(path)
    SqliteSaver(setup).setup()
    setup.close()
    monkeypatch.setattr(checkpointer_module, "vendor", lambda: "sqlite")
    monkeypatch.setattr(
        checkpointer_module, "_sqlite_connect", lambda: sqlite3.connect(path, check_same_thread=False, timeout=30)
    )
    settings.STEWARD_CHECKPOINT_ENCRYPTION_KEY = key
    graph = StateGraph(_Note)
    graph.add_node("ask", _ask)
    graph.add_edge(START, "ask")
    graph.add_edge("ask", END)
    config = {"configurable": {"thread_id": "t-1"}}
    with checkpointer_module.checkpointer() as saver:
        compiled = graph.compile(checkpointer=saver)
        compiled.invoke({"note": "the zebra file", "answer": ""}, config)
        assert compiled.get_state(config).interrupts
    assert b"zebra" not in path.read_bytes() and b"aesgcm" in path.read_bytes()
    with checkpointer_module.checkpointer() as saver:
        result = graph.compile(checkpointer=saver).invoke(Command(resume="yes"), config)
    assert result == {"note": "the zebra file", "answer": "yes"}
    assert b"zebra" not in path.read_bytes()


def _serializer_in_fresh_process(key: str) -> subprocess.CompletedProcess[str]:
    """The serializer a new process picks from the environment, as a worker would."""
    code = (
        "import django; django.setup(); from agents.engine.checkpointer import checkpoint_serde; "
        "print(type(checkpoint_serde()).__name__)"
    )
    return fresh_django("-c", code, env=fresh_env(STEWARD_CHECKPOINT_ENCRYPTION_KEY=key))


def test_the_setting_is_read_from_the_environment_and_checked_at_start() -> None:
    assert _serializer_in_fresh_process("").stdout.strip() == "EncryptedSerializer"
    assert _serializer_in_fresh_process(KEY).stdout.strip() == "EncryptedSerializer"
    assert _serializer_in_fresh_process("OFF").stdout.strip() == "_PlainSerializer"
    for bad in ("false", "no way"):
        started = _serializer_in_fresh_process(bad)
        assert started.returncode != 0, bad
        assert "STEWARD_CHECKPOINT_ENCRYPTION_KEY: key 1 is" in started.stderr and "or `off`" in started.stderr
