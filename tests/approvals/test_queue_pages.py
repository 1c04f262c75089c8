"""The queue pages: who may open each one, the queue and webhook forms (errors next to their fields,
422, audit rows), the webhook delivery log and re-sending, and the per-queue analytics page."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.contrib.staticfiles import finders
from django.test import Client
from django.utils import timezone

from approvals.models import ApprovalRequest, Decision, Queue, Webhook, WebhookDelivery
from approvals.queue_views import human_duration
from console.kernel.models import AuditEvent
from tests.support.clients import ClientFor
from tests.support.users import make_user

pytestmark = pytest.mark.django_db

CHART_JS = "/static/vendor/chartjs/chart.umd.min.js"


def field_block(html: str, name: str) -> str:
    """The markup of one field's block (label, input, errors, help) on a form page."""
    match = re.search(rf'<div class="field[^"]*" id="field-{name}">(.*?)\n</div>', html, re.S)
    assert match, f"no field block for {name}"
    return match.group(1)


def audit_rows(action: str, obj: Any) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, object_id=str(obj.pk)))


def queue_post(**overrides: Any) -> dict[str, Any]:
    """A valid queue form submission, with `overrides` applied (None removes a field)."""
    data: dict[str, Any] = {
        "name": "refunds-eu",
        "description": "EU refunds",
        "reviewer_groups": [Group.objects.get(name="reviewers").pk],
        "excluded_groups": [],
        "required_approvals": "2",
        "sla_minutes": "120",
        "claim_minutes": "10",
        "reason_codes": "policy, fraud, other",
        "timeout_action": "wait",
        "escalation_queue": "",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def other_queue() -> tuple[Queue, User]:
    """A queue reviewed only by the `eu-reviewers` group, and one of its reviewers."""
    queue = Queue.objects.create(name="refunds-eu", description="EU refunds")
    queue.reviewer_groups.add(Group.objects.create(name="eu-reviewers"))
    return queue, make_user("eu-reviewer", "reviewers", "eu-reviewers")


def a_webhook(queue_name: str = "payments", **fields: Any) -> Webhook:
    return Webhook.objects.create(
        name="ops",
        url="https://hooks.example.test/steward",
        queue=Queue.objects.get(name=queue_name),
        **fields,
    )


def a_delivery(webhook: Webhook, **fields: Any) -> WebhookDelivery:
    values: dict[str, Any] = {
        "event": "approval.requested",
        "payload": {"event": "approval.requested"},
        "status": WebhookDelivery.Status.FAILED,
        "attempts": 6,
        "last_status_code": 503,
        "last_error": "HTTP 503 Service Unavailable: receiver down",
    }
    values.update(fields)
    return WebhookDelivery.objects.create(webhook=webhook, **values)


# --- who may open what ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["reviewer", "admin_user"])
def test_queue_list_is_200_for_reviewers_and_admins(role: str, request: pytest.FixtureRequest, client_for: ClientFor) -> None:
    """Reviewers and admins open the queue list; every queue row links to its analytics."""
    response = client_for(request.getfixturevalue(role)).get("/queues/")
    assert response.status_code == 200
    assert b'href="/queues/payments/analytics"' in response.content


@pytest.mark.parametrize("role", ["engineer", "outsider"])
def test_queue_list_is_403_without_the_reviewer_role(role: str, request: pytest.FixtureRequest, client_for: ClientFor) -> None:
    assert client_for(request.getfixturevalue(role)).get("/queues/").status_code == 403


ADMIN_PAGES = [
    "/queues/new",
    "/queues/payments/edit",
    "/queues/payments/webhooks/",
    "/queues/payments/webhooks/{id}/",
]


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_pages_are_200_for_admins(path: str, admin_user: User, client_for: ClientFor) -> None:
    webhook = a_webhook()
    assert client_for(admin_user).get(path.format(id=webhook.id)).status_code == 200


@pytest.mark.parametrize("path", ADMIN_PAGES)
@pytest.mark.parametrize("role", ["reviewer", "engineer", "outsider"])
def test_admin_pages_are_403_for_everyone_else(path: str, role: str, request: pytest.FixtureRequest, client_for: ClientFor) -> None:
    """Reviewers of the queue included: reviewing a queue is not managing it."""
    webhook = a_webhook()
    user = request.getfixturevalue(role)
    client = client_for(user)
    assert client.get(path.format(id=webhook.id)).status_code == 403
    assert client.post(path.format(id=webhook.id), {"name": "x"}).status_code == 403


@pytest.mark.parametrize("path", ["/queues/", "/queues/payments/analytics", *ADMIN_PAGES])
def test_every_queue_page_sends_anonymous_visitors_to_login(path: str, roles: None) -> None:
    path = path.format(id=a_webhook().id)
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={path}"


@pytest.mark.parametrize(
    "action", ["toggle", "rotate-secret", "redeliver/00000000-0000-0000-0000-000000000000"]
)
def test_webhook_actions_are_403_for_a_reviewer(action: str, reviewer: User, client_for: ClientFor) -> None:
    webhook = a_webhook()
    response = client_for(reviewer).post(f"/queues/payments/webhooks/{webhook.id}/{action}")
    assert response.status_code == 403
    webhook.refresh_from_db()
    assert webhook.is_active


def test_a_reviewer_sees_only_the_queues_they_review_and_no_management_links(reviewer: User, client_for: ClientFor) -> None:
    """The `reviewers` group reviews payments and default; a queue of another group is not listed."""
    other_queue()
    html = client_for(reviewer).get("/queues/").content.decode()
    assert 'id="queue-payments"' in html and 'id="queue-default"' in html
    assert 'id="queue-refunds-eu"' not in html
    assert "/queues/new" not in html and "/edit" not in html and "/webhooks/" not in html


def test_an_admin_sees_every_queue_with_pending_counts_and_management_links(admin_user: User, client_for: ClientFor) -> None:
    queue, _ = other_queue()
    ApprovalRequest.objects.create(queue=queue, action="issue_refund", proposed_args={})
    html = client_for(admin_user).get("/queues/").content.decode()
    row = re.search(r'<tr id="queue-refunds-eu">(.*?)</tr>', html, re.S)
    assert row, html
    assert '<span class="badge">1</span>' in row.group(1)
    for link in ("/queues/refunds-eu/analytics", "/queues/refunds-eu/edit", "/queues/refunds-eu/webhooks/"):
        assert f'href="{link}"' in row.group(1)
    assert 'href="/queues/new"' in html


# --- creating and editing a queue ----------------------------------------------------------------


def test_creating_a_queue_with_errors_is_422_with_each_message_next_to_its_field(admin_user: User, client_for: ClientFor) -> None:
    """Escalating without an escalation queue, and malformed reason codes: nothing is created."""
    client = client_for(admin_user)
    response = client.post(
        "/queues/new",
        queue_post(timeout_action="escalate", reason_codes="policy, not a slug!, policy", sla_minutes="0"),
    )
    assert response.status_code == 422
    html = response.content.decode()
    escalation = field_block(html, "escalation_queue")
    assert "Escalating needs an escalation queue" in escalation
    assert 'aria-invalid="true"' in escalation
    reasons = field_block(html, "reason_codes")
    assert "is not a valid code" in reasons
    # What was typed is shown again, to be corrected rather than typed anew.
    assert 'value="policy, not a slug!, policy"' in reasons
    assert "greater than or equal to 1" in field_block(html, "sla_minutes")
    assert "Escalating needs" not in field_block(html, "timeout_action")
    assert not Queue.objects.filter(name="refunds-eu").exists()
    assert not AuditEvent.objects.filter(action="queue.created").exists()


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("policy, , other", "Reason code 2 is empty"),
        ("policy, Policy", "appears more than once"),
        ("refund/denied", "is not a valid code"),
    ],
)
def test_reason_codes_must_be_unique_non_empty_slugs(typed: str, message: str, admin_user: User, client_for: ClientFor) -> None:
    response = client_for(admin_user).post("/queues/new", queue_post(reason_codes=typed))
    assert response.status_code == 422
    assert message in field_block(response.content.decode(), "reason_codes")


def test_creating_a_valid_queue_redirects_and_records_it_in_the_audit_log(admin_user: User, client_for: ClientFor) -> None:
    target = Queue.objects.get(name="payments")
    response = client_for(admin_user).post(
        "/queues/new", queue_post(timeout_action="escalate", escalation_queue=target.pk)
    )
    assert response.status_code == 302
    assert response["Location"] == "/queues/"
    queue = Queue.objects.get(name="refunds-eu")
    assert queue.reason_codes == ["policy", "fraud", "other"]
    assert (queue.required_approvals, queue.sla_minutes, queue.claim_minutes) == (2, 120, 10)
    assert queue.escalation_queue == target
    assert list(queue.reviewer_groups.values_list("name", flat=True)) == ["reviewers"]
    [event] = audit_rows("queue.created", queue)
    assert event.actor_id == admin_user.pk
    assert "reason_codes" in event.data["changed"] and "escalation_queue" in event.data["changed"]
    assert event.data["values"]["escalation_queue"] == "payments"
    assert event.data["values"]["reviewer_groups"] == ["reviewers"]


def test_a_queue_name_must_be_unique(admin_user: User, client_for: ClientFor) -> None:
    response = client_for(admin_user).post("/queues/new", queue_post(name="payments"))
    assert response.status_code == 422
    assert "already exists" in field_block(response.content.decode(), "name")


def test_editing_reviewers_and_sla_saves_them_and_audits_only_what_changed(admin_user: User, client_for: ClientFor) -> None:
    queue = Queue.objects.get(name="payments")
    finance = Group.objects.create(name="finance")
    client = client_for(admin_user)
    form = client.get("/queues/payments/edit").content.decode()
    # The stored reason codes are shown as the line people edit.
    assert 'value="policy, incorrect, suspicious, duplicate, other"' in form

    response = client.post(
        "/queues/payments/edit",
        queue_post(
            name="payments",
            description=queue.description,
            reviewer_groups=[finance.pk],
            required_approvals=str(queue.required_approvals),
            sla_minutes="45",
            claim_minutes=str(queue.claim_minutes),
            reason_codes="policy, incorrect, suspicious, duplicate, other",
        ),
    )
    assert response.status_code == 302
    queue.refresh_from_db()
    assert queue.sla_minutes == 45
    assert list(queue.reviewer_groups.all()) == [finance]
    [event] = audit_rows("queue.updated", queue)
    assert event.actor_id == admin_user.pk
    assert event.data["changed"] == ["reviewer_groups", "sla_minutes"]
    assert event.data["values"] == {"reviewer_groups": ["finance"], "sla_minutes": 45}


def test_an_admin_sets_whether_the_requester_may_answer(admin_user: User, client_for: ClientFor) -> None:
    """The setting is a choice on the queue's form, shown in the list when not the default,
    audited; a value that is not a choice is refused next to the field."""
    queue = Queue.objects.get(name="payments")
    client = client_for(admin_user)
    form = client.get("/queues/payments/edit").content.decode()
    assert 'name="requester_may_answer"' in field_block(form, "requester_may_answer")
    assert '<option value="default" selected>' in form

    fields = {
        "name": "payments", "description": queue.description, "reviewer_groups": [Group.objects.get(name="reviewers").pk],
        "required_approvals": str(queue.required_approvals), "sla_minutes": str(queue.sla_minutes),
        "claim_minutes": str(queue.claim_minutes), "reason_codes": ", ".join(queue.reason_codes),
    }
    refused = client.post("/queues/payments/edit", queue_post(**fields, requester_may_answer="sometimes"))
    assert refused.status_code == 422
    assert "not one of the available choices" in field_block(refused.content.decode(), "requester_may_answer")
    queue.refresh_from_db()
    assert queue.requester_may_answer == "default"

    saved = client.post("/queues/payments/edit", queue_post(**fields, requester_may_answer="always"))
    assert saved.status_code == 302
    queue.refresh_from_db()
    assert queue.requester_may_answer == "always"
    [event] = audit_rows("queue.updated", queue)
    assert event.data["changed"] == ["requester_may_answer"] and event.data["values"] == {"requester_may_answer": "always"}
    assert "requester answers: always" in client.get("/queues/").content.decode()
    (shown,) = [q for q in client.get("/api/queues").json() if q["name"] == "payments"]
    assert shown["requester_may_answer"] == "always"


def test_a_queue_cannot_escalate_to_itself_or_round_a_loop(admin_user: User, client_for: ClientFor) -> None:
    payments, default = Queue.objects.get(name="payments"), Queue.objects.get(name="default")
    default.escalation_queue = payments
    default.save()
    client = client_for(admin_user)
    itself = client.post(
        "/queues/payments/edit",
        queue_post(name="payments", timeout_action="escalate", escalation_queue=payments.pk),
    )
    assert itself.status_code == 422
    assert "Select a valid choice" in field_block(itself.content.decode(), "escalation_queue")
    loop = client.post(
        "/queues/payments/edit",
        queue_post(name="payments", timeout_action="escalate", escalation_queue=default.pk),
    )
    assert loop.status_code == 422
    assert "would lead back to this queue" in field_block(loop.content.decode(), "escalation_queue")
    payments.refresh_from_db()
    assert payments.escalation_queue is None


def test_the_edit_page_of_a_missing_queue_is_404(admin_user: User, client_for: ClientFor) -> None:
    assert client_for(admin_user).get("/queues/nope/edit").status_code == 404


# --- webhooks ------------------------------------------------------------------------------------


def test_creating_a_webhook_validates_then_shows_its_secret(admin_user: User, client_for: ClientFor) -> None:
    client = client_for(admin_user)
    bad = client.post(
        "/queues/payments/webhooks/", {"name": "ops", "url": "ftp://files.example.test/x", "format": "json"}
    )
    assert bad.status_code == 422
    assert "http:// or https://" in field_block(bad.content.decode(), "url")
    assert not Webhook.objects.exists()

    response = client.post(
        "/queues/payments/webhooks/",
        {
            "name": "ops",
            "url": "https://hooks.example.test/in",
            "events": ["approval.sla_breached"],
            "format": "slack",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    webhook = Webhook.objects.get()
    assert response["Location"] == f"/queues/payments/webhooks/{webhook.id}/"
    assert webhook.queue.name == "payments"
    assert (webhook.events, webhook.format, webhook.is_active) == (["approval.sla_breached"], "slack", True)
    assert len(webhook.secret) == 64
    [event] = audit_rows("webhook.created", webhook)
    assert event.actor_id == admin_user.pk and "url" in event.data["changed"]

    page = client.get(response["Location"]).content.decode()
    assert webhook.secret in page
    assert 'id="deliveries"' in page and "No deliveries yet" in page


def test_the_delivery_log_shows_each_delivery(admin_user: User, client_for: ClientFor) -> None:
    webhook = a_webhook()
    failed = a_delivery(webhook)
    delivered = a_delivery(
        webhook,
        status="delivered",
        attempts=1,
        last_status_code=200,
        last_error="",
        delivered_at=timezone.now(),
        event="approval.escalated",
    )
    html = client_for(admin_user).get(f"/queues/payments/webhooks/{webhook.id}/").content.decode()
    failed_row = re.search(rf'<tr id="delivery-{failed.id}">(.*?)</tr>', html, re.S)
    delivered_row = re.search(rf'<tr id="delivery-{delivered.id}">(.*?)</tr>', html, re.S)
    assert failed_row and delivered_row
    assert "approval.requested" in failed_row.group(1)
    assert "<td>503</td>" in failed_row.group(1) and "receiver down" in failed_row.group(1)
    assert "<td>6</td>" in failed_row.group(1)
    assert f"/redeliver/{failed.id}" in failed_row.group(1)
    # Only a failed delivery can be sent again.
    assert "/redeliver/" not in delivered_row.group(1)
    assert "approval.escalated" in delivered_row.group(1)
    # Newest first.
    assert html.index(f"delivery-{delivered.id}") < html.index(f"delivery-{failed.id}")


def test_the_delivery_log_pages_back_by_keyset(admin_user: User, client_for: ClientFor) -> None:
    webhook = a_webhook()
    start = timezone.now() - timedelta(hours=1)
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            webhook=webhook,
            event="approval.requested",
            payload={},
            status="delivered",
            created_at=start + timedelta(seconds=i),
        )
        for i in range(103)
    )
    client = client_for(admin_user)
    first = client.get(f"/queues/payments/webhooks/{webhook.id}/").content.decode()
    first_ids = re.findall(r'<tr id="delivery-([0-9a-f-]+)">', first)
    assert len(first_ids) == 100
    older = re.search(r'href="\?before=([^"]+)" id="older"', first)
    assert older
    second = client.get(f"/queues/payments/webhooks/{webhook.id}/?before={older.group(1)}").content.decode()
    second_ids = re.findall(r'<tr id="delivery-([0-9a-f-]+)">', second)
    assert len(second_ids) == 3 and not set(first_ids) & set(second_ids)
    assert 'id="older"' not in second
    assert client.get(f"/queues/payments/webhooks/{webhook.id}/?before=garbage").status_code == 400


def test_a_webhook_of_another_queue_is_404_under_this_one(admin_user: User, client_for: ClientFor) -> None:
    webhook = a_webhook("default")
    assert client_for(admin_user).get(f"/queues/payments/webhooks/{webhook.id}/").status_code == 404


def test_editing_a_webhook_audits_the_changed_fields_but_not_their_values(admin_user: User, client_for: ClientFor) -> None:
    webhook = a_webhook()
    client = client_for(admin_user)
    path = f"/queues/payments/webhooks/{webhook.id}/"
    bad = client.post(
        path, {"name": "", "url": "https://hooks.example.test/new", "format": "json", "is_active": "on"}
    )
    assert bad.status_code == 422
    assert "This field is required" in field_block(bad.content.decode(), "name")
    response = client.post(
        path,
        {
            "name": "ops",
            "url": "https://hooks.example.test/new-secret-path",
            "format": "json",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    webhook.refresh_from_db()
    assert webhook.url == "https://hooks.example.test/new-secret-path"
    [event] = audit_rows("webhook.updated", webhook)
    assert event.data == {"changed": ["url"]}


def test_toggling_and_rotating_the_secret_are_audited(admin_user: User, client_for: ClientFor) -> None:
    webhook = a_webhook()
    old_secret = webhook.secret
    client = client_for(admin_user)
    assert client.post(f"/queues/payments/webhooks/{webhook.id}/toggle").status_code == 302
    webhook.refresh_from_db()
    assert not webhook.is_active
    assert audit_rows("webhook.updated", webhook)[0].data["changed"] == ["is_active"]

    assert client.post(f"/queues/payments/webhooks/{webhook.id}/rotate-secret").status_code == 302
    webhook.refresh_from_db()
    assert webhook.secret != old_secret and len(webhook.secret) == 64
    [event] = audit_rows("webhook.secret_rotated", webhook)
    assert event.data == {"changed": ["secret"]}
    assert webhook.secret not in json.dumps(event.data) and old_secret not in json.dumps(event.data)
    # GET does not rotate.
    assert client.get(f"/queues/payments/webhooks/{webhook.id}/rotate-secret").status_code == 405


def test_redelivering_resets_a_failed_delivery_to_pending_and_sends_it_after_commit(
    admin_user: User, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any, client_for: ClientFor
) -> None:
    from approvals.tasks import deliver_webhook

    sent: list[Any] = []
    monkeypatch.setattr(
        deliver_webhook, "apply_async", lambda *args, **kwargs: sent.append(kwargs.get("args"))
    )
    webhook = a_webhook()
    delivery = a_delivery(webhook)
    path = f"/queues/payments/webhooks/{webhook.id}/redeliver/{delivery.id}"
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client_for(admin_user).post(path)
    assert response.status_code == 302
    assert len(callbacks) == 1
    assert sent == [(str(delivery.id),)]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 0)
    assert delivery.next_attempt_at is not None
    [event] = audit_rows("webhook.delivery_resent", delivery)
    assert event.data["previous_attempts"] == 6

    # It is pending now, not failed: a second click sends nothing more.
    with django_capture_on_commit_callbacks(execute=True):
        client_for(admin_user).post(path)
    assert sent == [(str(delivery.id),)]


def test_redelivering_a_delivered_delivery_changes_nothing(
    admin_user: User, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any, client_for: ClientFor
) -> None:
    from approvals.tasks import deliver_webhook

    sent: list[Any] = []
    monkeypatch.setattr(deliver_webhook, "apply_async", lambda *args, **kwargs: sent.append(kwargs))
    webhook = a_webhook()
    delivery = a_delivery(webhook, status="delivered", attempts=1, last_status_code=200, last_error="")
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(admin_user).post(
            f"/queues/payments/webhooks/{webhook.id}/redeliver/{delivery.id}"
        )
    assert response.status_code == 302
    assert sent == []
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    # A delivery id of another webhook is not found under this one.
    other = a_delivery(a_webhook("default"))
    missing = client_for(admin_user).post(f"/queues/payments/webhooks/{webhook.id}/redeliver/{other.id}")
    assert missing.status_code == 404


# --- analytics -----------------------------------------------------------------------------------


def _seed_analytics(queue: Queue, reviewer: User) -> None:
    """Three pending requests (one overdue), two approved and one rejected with a reason."""
    now = timezone.now()
    for hours in (1, 2):
        ApprovalRequest.objects.create(
            queue=queue, action="issue_refund", proposed_args={}, created_at=now - timedelta(hours=hours)
        )
    ApprovalRequest.objects.create(
        queue=queue,
        action="issue_refund",
        proposed_args={},
        created_at=now - timedelta(hours=3),
        due_at=now - timedelta(minutes=5),
    )
    for kind, status, minutes in (
        ("approve", "approved", 10),
        ("approve", "approved", 30),
        ("reject", "rejected", 90),
    ):
        created = now - timedelta(days=1)
        request = ApprovalRequest.objects.create(
            queue=queue,
            action="issue_refund",
            proposed_args={},
            created_at=created,
            status=status,
            decided_by=reviewer,
            decided_at=created + timedelta(minutes=minutes),
        )
        Decision.objects.create(
            request=request,
            user=reviewer,
            decision=kind,
            reason_code="policy" if kind == "reject" else "",
            created_at=request.decided_at,
        )


def test_analytics_shows_the_queue_stats_to_its_reviewer_with_vendored_chart_js(db: Any, client_for: ClientFor) -> None:
    queue, eu_reviewer = other_queue()
    _seed_analytics(queue, eu_reviewer)
    response = client_for(eu_reviewer).get("/queues/refunds-eu/analytics")
    assert response.status_code == 200
    html = response.content.decode()
    data = re.search(r'<script id="queue-stats" type="application/json">(.*?)</script>', html, re.S)
    assert data
    stats = json.loads(data.group(1))
    assert (stats["pending"], stats["overdue"], stats["days"]) == (3, 1, 30)
    assert stats["outcomes"]["approved"] == 2 and stats["rejection_reasons"] == {"policy": 1}
    assert stats["decisions_per_reviewer"] == {"eu-reviewer": 3}
    assert len(stats["requests_per_day"]) == 30
    assert f'<script src="{CHART_JS}"></script>' in html
    assert finders.find("vendor/chartjs/chart.umd.min.js")
    # Figures people read: the median of 10, 30 and 90 minutes, and 2 of 3 verdicts approved.
    assert '<strong id="fig-pending">3</strong>' in html
    assert '<strong id="fig-median">30 min</strong>' in html
    assert '<strong id="fig-approval-rate">67 %</strong>' in html
    for canvas in ("chart-per-day", "chart-outcomes", "chart-reasons", "chart-reviewers"):
        assert f'id="{canvas}"' in html
    # Nothing comes from another origin: no CDN, no remote font, no remote image.
    assert not re.search(r"""(src|href|action)\s*=\s*["']?(https?:)?//""", html, re.I)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html, re.I)


def test_analytics_is_403_for_a_reviewer_of_another_queue(reviewer: User, client_for: ClientFor) -> None:
    other_queue()
    assert client_for(reviewer).get("/queues/refunds-eu/analytics").status_code == 403
    # ... and 200 for a queue the reviewers group does review.
    assert client_for(reviewer).get("/queues/payments/analytics").status_code == 200


@pytest.mark.parametrize("role", ["engineer", "outsider"])
def test_analytics_is_403_without_the_reviewer_role(role: str, request: pytest.FixtureRequest, client_for: ClientFor) -> None:
    assert client_for(request.getfixturevalue(role)).get("/queues/payments/analytics").status_code == 403


@pytest.mark.parametrize(("asked", "shown"), [("7", 7), ("90", 90), ("12", 30), ("lots", 30), (None, 30)])
def test_analytics_period_is_7_30_or_90_days(asked: str | None, shown: int, admin_user: User, client_for: ClientFor) -> None:
    params = {"days": asked} if asked is not None else {}
    response = client_for(admin_user).get("/queues/payments/analytics", params)
    assert response.status_code == 200
    assert response.context["stats"]["days"] == shown
    assert len(response.context["stats"]["requests_per_day"]) == shown
    assert (
        f'href="?days={shown}" role="button" class="small" aria-current="page"' in response.content.decode()
    )


def test_analytics_of_a_missing_queue_is_404(admin_user: User, client_for: ClientFor) -> None:
    assert client_for(admin_user).get("/queues/nope/analytics").status_code == 404


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "–"),
        (0, "0 s"),
        (45.4, "45 s"),
        (60, "1 min"),
        (725, "12 min 5 s"),
        (3600 * 3 + 1200, "3 h 20 min"),
        (86_400 * 2 + 3600 * 4 + 59, "2 d 4 h"),
    ],
)
def test_human_duration(seconds: float | None, text: str) -> None:
    assert human_duration(seconds) == text
