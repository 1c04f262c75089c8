"""Crons through `get_sync_client`: create for a thread or stateless, search, count, update,
delete; the beat task's firing, claimed once when several processes fire at the same time, starts
a run the worker executes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from django.db import connection
from langgraph_sdk import get_sync_client

from agents.engine.models import Run
from console.langgraph_api.cron_models import Cron
from console.langgraph_api.cron_schedule import parse_schedule, zone
from console.langgraph_api.crons import fire_due_crons
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]


def _status_of(call: Any) -> tuple[int, Any]:
    with pytest.raises(httpx.HTTPStatusError) as caught:
        call()
    return caught.value.response.status_code, caught.value.response.json()


def test_next_firing_of_a_schedule_in_its_time_zone() -> None:
    after = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)  # a Saturday
    weekdays = parse_schedule("*/15 9-17 * * mon-fri")
    # Monday 09:00 in Paris is 08:00 UTC.
    assert weekdays.next_after(after, zone("Europe/Paris")) == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    assert parse_schedule("30 2 * * *").next_after(after, zone(None)) == datetime(2026, 12, 6, 2, 30, tzinfo=UTC)
    # Both day fields restricted: either matches (Vixie cron).
    assert parse_schedule("0 0 1 * sun").next_after(after, zone(None)) == datetime(2026, 12, 6, 0, 0, tzinfo=UTC)
    assert parse_schedule("0 0 29 feb *").next_after(after, zone(None)) == datetime(2028, 2, 29, 0, 0, tzinfo=UTC)


def test_crons_are_created_searched_updated_and_deleted(sdk_url: str, key_of: Any, engineer: Any, reviewer: Any) -> None:
    client = get_sync_client(url=sdk_url, api_key=key_of(engineer))
    tid = client.threads.create()["thread_id"]
    on_thread = client.crons.create_for_thread(
        tid, "lg_plain", schedule="0 9 * * mon-fri", input={"topic": "standup"}, metadata={"team": "a"}, timezone="Europe/Paris"
    )
    assert on_thread["thread_id"] == tid and on_thread["schedule"] == "0 9 * * mon-fri" and on_thread["enabled"] is True
    assert on_thread["timezone"] == "Europe/Paris" and on_thread["payload"]["input"] == {"topic": "standup"}
    assert on_thread["user_id"] == str(engineer.pk)
    next_run = datetime.fromisoformat(on_thread["next_run_date"]).astimezone(zone("Europe/Paris"))
    assert (next_run.hour, next_run.minute) == (9, 0) and next_run.weekday() < 5
    stateless = client.crons.create("lg_plain", schedule="*/5 * * * *", input={"topic": "tick"})
    assert stateless["thread_id"] is None

    assert {c["cron_id"] for c in client.crons.search()} == {on_thread["cron_id"], stateless["cron_id"]}
    assert [c["cron_id"] for c in client.crons.search(thread_id=tid)] == [on_thread["cron_id"]]
    assert [c["cron_id"] for c in client.crons.search(metadata={"team": "a"})] == [on_thread["cron_id"]]
    assert len(client.crons.search(assistant_id="lg_plain", limit=1)) == 1
    assert client.crons.search(select=["cron_id"], thread_id=tid) == [{"cron_id": on_thread["cron_id"]}]
    assert client.crons.count() == 2 and client.crons.count(thread_id=tid) == 1

    paused = client.crons.update(stateless["cron_id"], enabled=False)
    assert paused["enabled"] is False and paused["next_run_date"] is None
    assert [c["cron_id"] for c in client.crons.search(enabled=True)] == [on_thread["cron_id"]]

    # Reviewers read crons; creating, changing and deleting them is for the role that starts runs.
    reader = get_sync_client(url=sdk_url, api_key=key_of(reviewer))
    assert len(reader.crons.search()) == 2
    assert _status_of(lambda: reader.crons.create("lg_plain", schedule="* * * * *"))[0] == 403
    assert _status_of(lambda: reader.crons.delete(stateless["cron_id"]))[0] == 403

    client.crons.delete(stateless["cron_id"])
    assert [c["cron_id"] for c in client.crons.search()] == [on_thread["cron_id"]]
    assert _status_of(lambda: client.crons.delete(stateless["cron_id"]))[0] == 404
    assert _status_of(lambda: client.crons.delete("not-a-uuid"))[0] == 404


def test_bad_crons_answer_422_or_404(sdk_url: str, key_of: Any, engineer: Any) -> None:
    client = get_sync_client(url=sdk_url, api_key=key_of(engineer))
    for schedule in ("* * *", "61 * * * *", "0 0 31 2 *", "every day"):
        status, body = _status_of(lambda s=schedule: client.crons.create("lg_plain", schedule=s))
        assert status == 422 and body["detail"][0]["loc"] == ["body", "schedule"], schedule
    status, body = _status_of(lambda: client.crons.create("lg_plain", schedule="* * * * *", timezone="Mars/Olympus"))
    assert status == 422 and "time zone" in body["detail"][0]["msg"]
    assert _status_of(lambda: client.crons.create("nobody", schedule="* * * * *"))[0] == 404
    assert _status_of(lambda: client.crons.create_for_thread("no-such-thread", "lg_plain", schedule="* * * * *"))[0] == 404
    assert _status_of(lambda: client.crons.create("lg_plain", schedule="* * * * *", durability="exit"))[0] == 422
    assert _status_of(lambda: client.crons.create("lg_plain", schedule="* * * * *", on_run_completed="delete"))[0] == 422
    assert client.crons.search() == []


def _make_due(cron_id: str) -> datetime:
    due = datetime.now(UTC) - timedelta(minutes=1)
    Cron.objects.filter(cron_id=cron_id).update(next_run_at=due)
    return due


def test_a_due_cron_fires_once_when_two_processes_fire_at_once(sdk_url: str, key_of: Any, engineer: Any) -> None:
    client = get_sync_client(url=sdk_url, api_key=key_of(engineer))
    tid = client.threads.create()["thread_id"]
    cron = client.crons.create_for_thread(tid, "lg_plain", schedule="* * * * *", input={"topic": "cron"})
    due = _make_due(cron["cron_id"])

    start = threading.Barrier(2)
    claimed: list[int] = []

    def fire() -> None:
        try:
            start.wait()
            claimed.append(fire_due_crons())
        finally:
            connection.close()

    firers = [threading.Thread(target=fire) for _ in range(2)]
    for t in firers:
        t.start()
    for t in firers:
        t.join()
    assert sorted(claimed) == [0, 1]
    runs = list(Run.objects.filter(metadata__cron_id=cron["cron_id"]))
    assert len(runs) == 1 and runs[0].thread_id == tid and runs[0].created_by_id == engineer.pk
    row = Cron.objects.get(cron_id=cron["cron_id"])
    assert row.last_run_id == runs[0].id and row.next_run_at is not None and row.next_run_at > due
    # Fired again with nothing due: nothing.
    assert fire_due_crons() == 0

    # The worker executes the cron's run, an ordinary run of the thread the SDK sees.
    wait_for(lambda: Run.objects.get(id=runs[0].id).status == Run.Status.SUCCEEDED)
    values = client.threads.get_state(tid)["values"]
    assert values["topic"] == "cron" and values["greeting"].endswith(": cron")
    assert [r["run_id"] for r in client.runs.list(tid)] == [str(runs[0].id)]


def test_a_stateless_cron_fires_a_run_of_its_own_and_a_refusal_is_kept(sdk_url: str, key_of: Any, engineer: Any) -> None:
    client = get_sync_client(url=sdk_url, api_key=key_of(engineer))
    cron = client.crons.create("lg_plain", schedule="0 * * * *", input={"topic": "hourly"})
    _make_due(cron["cron_id"])
    assert fire_due_crons() == 1
    run = Run.objects.get(metadata__cron_id=cron["cron_id"])
    wait_for(lambda: Run.objects.get(id=run.id).status == Run.Status.SUCCEEDED)

    # The creator lost the role that starts runs: the firing starts nothing and says why.
    engineer.groups.clear()
    _make_due(cron["cron_id"])
    assert fire_due_crons() == 1
    row = Cron.objects.get(cron_id=cron["cron_id"])
    assert "role" in row.last_error and Run.objects.filter(metadata__cron_id=cron["cron_id"]).count() == 1


def test_of_two_processes_holding_the_same_due_firing_one_claims_it(engineer: Any) -> None:
    cron = Cron.objects.create(assistant_id="lg_plain", graph_id="lg_plain", schedule="* * * * *", created_by=engineer)
    due = datetime.now(UTC) - timedelta(minutes=1)
    Cron.objects.filter(cron_id=cron.cron_id).update(next_run_at=due)
    # Both read the cron as due before either claims it.
    seen = [Cron.objects.get(cron_id=cron.cron_id) for _ in range(2)]
    start = threading.Barrier(2)
    results: list[bool] = []

    def claim(mine: Cron) -> None:
        try:
            start.wait()
            results.append(mine.claim(due, due + timedelta(minutes=1)))
        finally:
            connection.close()

    claimers = [threading.Thread(target=claim, args=(c,)) for c in seen]
    for t in claimers:
        t.start()
    for t in claimers:
        t.join()
    assert sorted(results) == [False, True]
    assert Cron.objects.get(cron_id=cron.cron_id).next_run_at == due + timedelta(minutes=1)
