"""The store and crons in the embedded mode (SQLite, memory broker, worker thread, the beat
schedule run by the server itself), through `get_sync_client` against `manage.py serve_embedded`."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from langgraph_sdk import get_sync_client

from tests.support.embedded import embedded_env, embedded_server, manage
from tests.support.processes import ROOT
from tests.support.waiting import wait_for

LANGGRAPH_JSON = ROOT / "tests" / "support" / "lg_agents" / "langgraph.json"


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """The `/langgraph` URL of an embedded server, an engineer's key, and its SQLite file."""
    env = embedded_env(tmp_path, STEWARD_LANGGRAPH_JSON=str(LANGGRAPH_JSON), STEWARD_CRON_TICK_SECONDS="1")
    manage(env, "migrate", "--noinput")
    manage(env, "seed_demo")
    key = manage(env, "create_api_key", "engineer").strip().splitlines()[-1]
    with embedded_server(env, tmp_path / "server.log") as base:
        yield f"{base}/langgraph", key, tmp_path / "steward.sqlite3"


def test_store_and_crons_on_sqlite(embedded: tuple[str, str, Path]) -> None:
    url, key, database = embedded
    client = get_sync_client(url=url, api_key=key)
    client.store.put_item(["profiles", "ada"], "preferences", {"tone": "brief"})
    assert client.store.get_item(["profiles", "ada"], key="preferences")["value"] == {"tone": "brief"}
    assert client.store.list_namespaces()["namespaces"] == [["profiles", "ada"]]
    # The worker thread's graph reads the SDK's item and writes its own.
    out = client.runs.wait(None, "lg_memory", input={"user": "ada"})
    assert out["remembered"] == {"tone": "brief"} and out["visits"] == 1
    assert client.store.search_items(["visits"])["items"][0]["value"] == {"n": 1}

    tid = client.threads.create()["thread_id"]
    cron = client.crons.create_for_thread(tid, "lg_plain", schedule="0 0 1 1 *", input={"topic": "new year"})
    # Its time has come (written straight into the file, as the clock cannot be moved).
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE console_cron SET next_run_at = '2000-01-01 00:00:00' WHERE cron_id = ?", [cron["cron_id"].replace("-", "")])
    # The server's own beat loop fires it; the worker thread runs it.
    runs = wait_for(lambda: client.runs.list(tid), interval=0.2)
    assert len(runs) == 1 and runs[0]["metadata"]["cron_id"] == cron["cron_id"]
    wait_for(lambda: client.runs.get(tid, runs[0]["run_id"])["status"] == "success", interval=0.2)
    assert client.threads.get_state(tid)["values"]["topic"] == "new year"
    next_run = client.crons.search(thread_id=tid)[0]["next_run_date"]
    assert next_run is not None and next_run.startswith(("2027-01-01", "2028-01-01"))
