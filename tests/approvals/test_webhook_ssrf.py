"""Webhooks cannot reach internal addresses: the webhook forms (queue page and admin) refuse them
at save, a delivery refuses them at send time (the allow-list may have changed since), a redirect
is never followed, and nothing a receiver answers is stored or shown beyond its status."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User

from approvals import webhooks
from approvals.models import Queue, Webhook, WebhookDelivery
from tests.support.clients import ClientFor
from tests.support.receivers import HttpReceiver

pytestmark = pytest.mark.django_db

# (url template, what the refusal names). {v4} and {v6} are the ports of live receivers on
# 127.0.0.1 and [::1]: had Steward connected, they would have recorded the request.
INTERNAL_URLS = [
    ("http://127.0.0.1:{v4}/hooks/steward", "loopback"),
    ("http://[::1]:{v6}/hooks/steward", "loopback"),
    ("http://localhost:{v4}/hooks/steward", "loopback"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://10.0.0.1/hook", "private"),
    ("http://192.168.1.1/hook", "private"),
    ("http://224.0.0.1/hook", "multicast"),
]


@pytest.fixture
def listening(receiver: Callable[..., HttpReceiver]) -> tuple[HttpReceiver, HttpReceiver]:
    """Receivers on 127.0.0.1 and [::1] that would record any request that reached them."""
    return receiver(), receiver(host="::1")


def _url(template: str, listening: tuple[HttpReceiver, HttpReceiver]) -> str:
    v4, v6 = listening
    return template.format(v4=v4.port, v6=v6.port)


def _nothing_received(listening: tuple[HttpReceiver, HttpReceiver]) -> bool:
    return all(r.received == [] for r in listening)


@pytest.mark.parametrize(("template", "kind"), INTERNAL_URLS)
def test_the_queue_webhook_form_refuses_an_internal_address(
    template: str, kind: str, listening: tuple[HttpReceiver, HttpReceiver], admin_user: User, client_for: ClientFor
) -> None:
    url = _url(template, listening)
    response = client_for(admin_user).post("/queues/payments/webhooks/", {"name": "ops", "url": url, "format": "json"})
    assert response.status_code == 422
    page = response.content.decode()
    assert kind in page and "STEWARD_OUTBOUND_ALLOW" in page
    assert not Webhook.objects.exists()
    assert _nothing_received(listening)


def test_editing_a_webhook_to_an_internal_address_is_refused(admin_user: User, client_for: ClientFor) -> None:
    webhook = Webhook.objects.create(name="ops", url="https://8.8.8.8/in", queue=Queue.objects.get(name="payments"))
    response = client_for(admin_user).post(
        f"/queues/payments/webhooks/{webhook.id}/",
        {"name": "ops", "url": "http://169.254.169.254/latest/meta-data/", "format": "json", "is_active": "on"},
    )
    assert response.status_code == 422
    assert "link-local" in response.content.decode()
    webhook.refresh_from_db()
    assert webhook.url == "https://8.8.8.8/in"


@pytest.mark.parametrize(("template", "kind"), INTERNAL_URLS)
def test_the_admin_webhook_form_refuses_an_internal_address(
    template: str, kind: str, listening: tuple[HttpReceiver, HttpReceiver], admin_user: User, client_for: ClientFor
) -> None:
    url = _url(template, listening)
    response = client_for(admin_user).post(
        "/admin/approvals/webhook/add/",
        {"name": "ops", "url": url, "secret": "s", "events": "[]", "format": "json", "is_active": "on", "created_at_0": "2026-01-01", "created_at_1": "00:00:00"},
    )
    assert response.status_code == 200  # the admin shows the form again with its errors
    page = response.content.decode()
    assert kind in page and "STEWARD_OUTBOUND_ALLOW" in page
    assert not Webhook.objects.exists()
    assert _nothing_received(listening)


def test_the_allow_list_lets_a_local_receiver_be_saved(
    outbound_allows_loopback: None, receiver: Callable[..., HttpReceiver], admin_user: User, client_for: ClientFor
) -> None:
    url = receiver().url
    response = client_for(admin_user).post("/queues/payments/webhooks/", {"name": "ops", "url": url, "format": "json"})
    assert response.status_code == 302
    assert Webhook.objects.get().url == url


def _delivery_to(url: str) -> WebhookDelivery:
    # Saved through the ORM: as if the allow-list named the address when the webhook was saved.
    webhook = Webhook.objects.create(name="ops", url=url)
    return WebhookDelivery.objects.create(webhook=webhook, event="approval.requested", payload={"event": "approval.requested"})


@pytest.mark.parametrize(("template", "kind"), INTERNAL_URLS)
def test_a_delivery_to_an_internal_address_is_refused_without_connecting(
    template: str, kind: str, listening: tuple[HttpReceiver, HttpReceiver], settings: Any
) -> None:
    settings.STEWARD_OUTBOUND_ALLOW = ""
    delivery = _delivery_to(_url(template, listening))

    # Refused for good: no retry is scheduled, an operator changes the allow-list or the URL.
    assert webhooks.deliver(delivery.id) is None
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == 1 and delivery.last_status_code is None
    assert delivery.last_error.startswith("refused:") and kind in delivery.last_error
    assert _nothing_received(listening)


def test_a_redirect_to_a_refused_address_is_not_followed(receiver: Callable[..., HttpReceiver], settings: Any) -> None:
    settings.STEWARD_OUTBOUND_ALLOW = "127.0.0.1"
    refused = receiver(host="127.0.0.2")
    moved = receiver(default=302, location=refused.url)
    delivery = _delivery_to(moved.url)

    assert webhooks.deliver(delivery.id) is not None
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.last_status_code == 302
    assert delivery.last_error == "HTTP 302: redirect refused"
    assert len(moved.received) == 1 and refused.received == []


def test_a_receivers_answer_is_never_stored_or_shown(
    receiver: Callable[..., HttpReceiver], settings: Any, admin_user: User, client_for: ClientFor, caplog: Any
) -> None:
    settings.STEWARD_OUTBOUND_ALLOW = "127.0.0.1"
    canary = "CANARY-b81c2e-aws-secret-access-key"
    r = receiver(default=500, failure_body=f"<html>{canary}</html>".encode())
    webhook = Webhook.objects.create(name="ops", url=r.url, queue=Queue.objects.get(name="payments"))
    delivery = WebhookDelivery.objects.create(webhook=webhook, event="approval.requested", payload={"event": "approval.requested"})

    with caplog.at_level(logging.INFO):
        webhooks.deliver(delivery.id)

    assert len(r.received) == 1
    delivery.refresh_from_db()
    assert delivery.last_status_code == 500 and delivery.last_error == "HTTP 500 Internal Server Error"
    row = WebhookDelivery.objects.filter(id=delivery.id).values().get()
    assert canary not in repr(row)
    page = client_for(admin_user).get(f"/queues/payments/webhooks/{webhook.id}/").content.decode()
    assert "HTTP 500 Internal Server Error" in page and canary not in page
    assert canary not in caplog.text
