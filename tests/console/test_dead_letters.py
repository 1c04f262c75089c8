"""The dead-letter list: failed runs land there (from a worker or the sweeper), notify by a
signed webhook and an email, and are retried or dismissed from the page or the API."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core import mail
from django.utils import timezone

from agents.engine import dead_letters, runtime
from agents.engine.models import Agent, DeadLetter, Run
from agents.engine.services import start_run
from agents.engine.sweeper import sweep
from approvals import webhooks
from approvals.models import Queue, Webhook, WebhookDelivery
from console.kernel.models import AuditEvent
from tests.support.clients import ClientFor
from tests.support.users import make_user
from traces.inspection.replay import retry_dead_letter

# Runs and deliveries send messages to the broker; these tests execute and deliver themselves.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("broker_purged_after")]

SECRET = "whsec-dead-letters-0123456789"


@pytest.fixture
def people(roles: None) -> dict[str, User]:
    return {
        "engineer": make_user("eng", "engineers", email="eng@example.com"),
        "admin": make_user("adm", "admins", email="adm@example.com"),
        "reviewer": make_user("rev", "reviewers", email="rev@example.com"),
        "quiet": make_user("eng-no-mail", "engineers"),
    }


def failed(agent: str, data: dict[str, Any], user: User) -> Run:
    run = start_run(agent, data, user)
    assert runtime.execute(run.id) == "failed"
    run.refresh_from_db()
    return run


@pytest.mark.usefixtures("outbound_allows_loopback")
def test_a_failed_run_lands_and_notifies_by_signed_webhook_and_email(people: dict[str, User], receiver: Any, client_for: ClientFor) -> None:
    r = receiver()
    hook = Webhook.objects.create(name="ops", url=r.url, secret=SECRET)
    queue_hook = Webhook.objects.create(name="payments only", url=r.url, secret=SECRET, queue=Queue.objects.get(name="payments"))
    other_events = Webhook.objects.create(name="prompts", url=r.url, secret=SECRET, events=["prompt.version_created"])

    run = failed("stock_check", {"sku": "BROKEN-7"}, people["engineer"])

    letter = DeadLetter.objects.get(run=run)
    assert letter.resolved_at is None and letter.failures == 1
    assert letter.error == run.error and "InventoryServiceError" in letter.error
    assert letter.attempts == run.attempts == 1

    # The webhook: only to webhooks tied to no queue that want the event; signed like every delivery.
    [delivery] = WebhookDelivery.objects.filter(webhook=hook)
    assert delivery.event == "run.dead_lettered"
    assert not WebhookDelivery.objects.filter(webhook__in=[queue_hook, other_events]).exists()
    webhooks.deliver(delivery.id)
    [sent] = r.received
    assert sent["headers"]["X-Steward-Signature"] == webhooks.signature(SECRET, sent["body"])
    assert sent["headers"]["X-Steward-Event"] == "run.dead_lettered"
    body = json.loads(sent["body"])
    assert body["event"] == "run.dead_lettered"
    assert body["run"]["id"] == str(run.id) and body["run"]["agent"] == "stock_check"
    assert body["run"]["status"] == "failed" and "503" in body["run"]["error"]
    assert body["run"]["url"] == f"{settings.STEWARD_BASE_URL}/runs/{run.id}/"
    assert body["dead_letters_url"] == f"{settings.STEWARD_BASE_URL}/dead-letters/"

    # The email: engineers and admins with an address, not reviewers.
    assert sorted(m.to[0] for m in mail.outbox) == ["adm@example.com", "eng@example.com"]
    message = mail.outbox[0]
    assert "stock_check" in message.subject and "\n" not in message.subject
    assert f"/runs/{run.id}/" in message.body and "/dead-letters/?agent=stock_check" in message.body
    assert "InventoryServiceError" in message.body

    # The page lists it with its error and actions; reviewers may not see it.
    page = client_for(people["engineer"]).get("/dead-letters/")
    assert page.status_code == 200
    content = page.content.decode()
    assert f'id="dead-letter-{letter.id}"' in content and "InventoryServiceError" in content
    assert f"/dead-letters/{letter.id}/retry" in content and f"/dead-letters/{letter.id}/dismiss" in content
    assert client_for(people["reviewer"]).get("/dead-letters/").status_code == 403
    home = client_for(people["engineer"]).get("/").content.decode()
    assert 'href="/dead-letters/"' in home and "1</strong> failed run in the dead-letter list" in home


@pytest.mark.usefixtures("outbound_allows_loopback")
def test_one_email_per_agent_in_a_failure_storm_but_every_webhook(people: dict[str, User], receiver: Any) -> None:
    hook = Webhook.objects.create(name="ops", url=receiver().url, secret=SECRET)
    failed("stock_check", {"sku": "BROKEN-1"}, people["engineer"])
    failed("stock_check", {"sku": "BROKEN-2"}, people["engineer"])
    assert len(mail.outbox) == 2  # the first failure, to each of the two
    assert WebhookDelivery.objects.filter(webhook=hook, event="run.dead_lettered").count() == 2
    failed("flaky", {"topic": f"storm-{uuid.uuid4().hex}"}, people["engineer"])
    assert len(mail.outbox) == 4  # another agent: its own email


def test_retry_queues_the_run_again_and_a_new_failure_brings_it_back(people: dict[str, User], client_for: ClientFor) -> None:
    engineer = people["engineer"]
    client = client_for(engineer)
    recovers = failed("flaky", {"topic": f"dl-{uuid.uuid4().hex}"}, engineer)
    fails_again = failed("stock_check", {"sku": "BROKEN-3"}, engineer)
    first, second = DeadLetter.objects.get(run=recovers), DeadLetter.objects.get(run=fails_again)

    # Back to the page the button was on, never to another site.
    response = client.post(f"/dead-letters/{first.id}/retry", {"back": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == "/dead-letters/"
    recovers.refresh_from_db()
    assert recovers.status == "queued" and recovers.error == ""
    first.refresh_from_db()
    assert (first.resolution, first.resolved_by) == ("retried", engineer)
    assert runtime.execute(recovers.id) == "succeeded"
    assert AuditEvent.objects.filter(action="run.retried", object_id=str(recovers.id)).exists()

    response = client.post(f"/dead-letters/{second.id}/retry", {"back": "/dead-letters/?agent=stock_check"})
    assert response["Location"] == "/dead-letters/?agent=stock_check"
    assert runtime.execute(fails_again.id) == "failed"
    second.refresh_from_db()
    assert second.resolved_at is None and second.failures == 2 and second.resolution == ""
    assert [letter.id for letter in dead_letters.listed()] == [second.id]

    # Retrying a closed entry says why not, and changes nothing.
    response = client.post(f"/dead-letters/{first.id}/retry", follow=True)
    assert "Not retried: this entry was already retried" in response.content.decode()


def test_a_retried_run_that_fails_again_at_once_stays_in_the_list(
    people: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker may fail the run again before the Retry request returns: the new failure must
    reopen the entry, not be closed by the retry that caused it. Celery runs the task eagerly
    here, the one way to make that race happen every time; what is tested is the dead-letter
    state, not the broker."""
    from console.celery import app

    engineer = people["engineer"]
    run = failed("stock_check", {"sku": "BROKEN-4"}, engineer)
    letter = DeadLetter.objects.get(run=run)
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    retry_dead_letter(letter.id, engineer)
    monkeypatch.undo()
    run.refresh_from_db()
    letter.refresh_from_db()
    assert run.status == "failed"
    assert letter.resolved_at is None and letter.failures == 2
    assert [entry.id for entry in dead_letters.listed()] == [letter.id]


def test_a_refused_retry_leaves_the_entry_open(people: dict[str, User], client_for: ClientFor) -> None:
    engineer = people["engineer"]
    run = failed("stock_check", {"sku": "BROKEN-5"}, engineer)
    letter = DeadLetter.objects.get(run=run)
    Run.objects.filter(id=run.id).update(pruned_at=timezone.now(), pruned_after_days=1)
    response = client_for(engineer).post(f"/dead-letters/{letter.id}/retry", follow=True)
    assert "Not retried: this run&#x27;s spans and checkpoints were pruned" in response.content.decode()
    letter.refresh_from_db()
    assert letter.resolved_at is None and letter.resolution == ""


def test_a_run_retried_from_its_own_page_leaves_the_list(people: dict[str, User], client_for: ClientFor) -> None:
    run = failed("flaky", {"topic": f"dl-{uuid.uuid4().hex}"}, people["engineer"])
    assert dead_letters.open_count() == 1
    assert client_for(people["engineer"]).post(f"/runs/{run.id}/retry").status_code == 302
    assert dead_letters.open_count() == 0


def test_dismiss_closes_the_entry_and_is_audited(people: dict[str, User], api: Any, client_for: ClientFor) -> None:
    run = failed("stock_check", {"sku": "BROKEN-4"}, people["engineer"])
    letter = DeadLetter.objects.get(run=run)
    response = client_for(people["admin"]).post(f"/dead-letters/{letter.id}/dismiss", follow=True)
    assert f"Dismissed the failure of run {run.id}" in response.content.decode()
    letter.refresh_from_db()
    assert (letter.resolution, letter.resolved_by) == ("dismissed", people["admin"])
    event = AuditEvent.objects.get(action="run.dead_letter_dismissed")
    assert event.object_id == str(run.id) and event.actor == people["admin"]
    run.refresh_from_db()
    assert run.status == "failed"  # dismissing changes nothing about the run

    client = api(people["engineer"])
    assert client.post(f"/api/dead-letters/{letter.id}/dismiss").status_code == 409
    assert client.post(f"/api/dead-letters/{uuid.uuid4()}/dismiss").status_code == 404
    assert client.get("/api/dead-letters").json()["items"] == []
    [closed] = client.get("/api/dead-letters", resolved="true").json()["items"]
    assert closed["id"] == str(letter.id) and closed["resolution"] == "dismissed" and closed["resolved_by"] == "adm"
    page = client_for(people["engineer"]).get("/dead-letters/?resolved=1").content.decode()
    assert "dismissed by adm" in page


def test_the_sweeper_giving_up_lands_the_run(people: dict[str, User]) -> None:
    now = timezone.now()
    run = Run.objects.create(
        agent=Agent.objects.get(key="known"), thread_id=str(uuid.uuid4()), status=Run.Status.RUNNING,
        attempts=settings.STEWARD_MAX_ATTEMPTS, lease_owner="gone", lease_expires_at=now - timedelta(seconds=5),
    )
    assert sweep(now)["failed"] == 1
    letter = DeadLetter.objects.get(run=run)
    assert "gave up after" in letter.error and letter.attempts == settings.STEWARD_MAX_ATTEMPTS
    assert len(mail.outbox) == 2


def test_the_api_lists_newest_first_in_keyset_pages_for_engineers_only(people: dict[str, User], api: Any, client_for: ClientFor) -> None:
    agent = Agent.objects.get(key="known")
    start = timezone.now() - timedelta(hours=1)
    ids = []
    for minute in range(3):
        run = Run.objects.create(agent=agent, thread_id=str(uuid.uuid4()), status=Run.Status.FAILED, error=f"boom {minute}")
        ids.append(str(dead_letters.land(run.id, now=start + timedelta(minutes=minute)).id))
    client = api(people["engineer"])
    first = client.get("/api/dead-letters", limit=2).json()
    assert [item["id"] for item in first["items"]] == [ids[2], ids[1]]
    assert first["items"][0]["error"] == "boom 2" and first["items"][0]["agent"] == "known"
    second = client.get("/api/dead-letters", limit=2, cursor=first["next_cursor"]).json()
    assert [item["id"] for item in second["items"]] == [ids[0]] and second["next_cursor"] is None
    assert client.get("/api/dead-letters", agent="refund").json()["items"] == []
    assert client.get("/api/dead-letters", cursor="not-a-cursor").status_code == 422
    assert api(people["reviewer"]).get("/api/dead-letters").status_code == 403
    assert api(None).get("/api/dead-letters").status_code == 401

    retried = client.post(f"/api/dead-letters/{ids[2]}/retry")
    assert retried.status_code == 200 and retried.json()["status"] == "queued"
    assert [item["id"] for item in client.get("/api/dead-letters").json()["items"]] == [ids[1], ids[0]]
    # The page pages the same way.
    page = client_for(people["engineer"]).get("/dead-letters/")
    assert page.content.decode().count('class="dead-letter"') == 2
