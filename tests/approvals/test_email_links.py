"""Email notifications and their one-time approve/reject links: who gets mail, what a link's GET
shows (never a decision), what its POST decides (once), and the clear pages for bad links."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core import signing
from django.test import Client, override_settings
from django.utils import timezone

from agents.engine.models import Run
from approvals import notifications
from approvals.action_links import link_from_token
from approvals.models import ActionLink, ApprovalRequest, Decision
from approvals.services import decide
from tests.support.clients import ClientFor
from tests.support.users import make_user

pytestmark = pytest.mark.django_db(transaction=True)

LINK = re.compile(r"(https?://\S+?)(/approvals/link/([^/\s]+)/)")


@pytest.fixture
def people(pending: ApprovalRequest, engineer: User) -> dict[str, User]:
    """Reviewers of the payments queue, made after the request so only our notify() mails them."""
    # The requester is a reviewer too, with an address: four-eyes still keeps the mail from them.
    engineer.email = "engineer@example.com"
    engineer.save()
    engineer.groups.add(Group.objects.get(name="reviewers"))
    auditors = Group.objects.create(name="auditors")
    pending.queue.excluded_groups.add(auditors)
    eve = make_user("eve", "reviewers", email="eve@example.com")
    eve.groups.add(auditors)
    return {
        "alice": make_user("alice", "reviewers", email="alice@example.com"),
        "bob": make_user("bob", "reviewers", email="bob@example.com"),
        "nomail": make_user("nomail", "reviewers"),
        "gone": make_user("gone", "reviewers", email="gone@example.com", is_active=False),
        "eve": eve,
        "outsider": make_user("stranger", email="stranger@example.com"),
    }


def _links(body: str) -> dict[str, str]:
    """{"approve": path, "reject": path} from an email body."""
    found = {}
    for base, path, token in LINK.findall(body):
        assert base == settings.STEWARD_BASE_URL
        link = link_from_token(token)
        assert link is not None
        found[link.decision] = path
    return found


def _mail_for(mailoutbox: list[Any], user: User) -> Any:
    [message] = [m for m in mailoutbox if m.to == [user.email]]
    return message


def _notified_links(pending: ApprovalRequest, mailoutbox: list[Any], user: User) -> dict[str, str]:
    notifications.notify("approval.requested", pending)
    return _links(_mail_for(mailoutbox, user).body)


def test_reviewers_get_the_request_link_and_their_own_one_time_links(
    pending: ApprovalRequest, people: dict[str, User], mailoutbox: list[Any]
) -> None:
    notifications.notify("approval.requested", pending)

    # Not the requester, not an excluded group, nobody without an address or inactive, no outsider.
    assert sorted(m.to[0] for m in mailoutbox) == ["alice@example.com", "bob@example.com"]
    url = f"{settings.STEWARD_BASE_URL}/approvals/{pending.id}/"
    seen = set()
    for message in mailoutbox:
        assert message.from_email == settings.DEFAULT_FROM_EMAIL
        assert "Approval requested" in message.subject and "issue_refund" in message.subject
        assert "\n" not in message.subject
        assert url in message.body
        assert pending.summary in message.body
        links = _links(message.body)
        assert set(links) == {"approve", "reject"}
        seen.update(links.values())
    assert len(seen) == 4, "each reviewer gets links of their own"
    links = ActionLink.objects.filter(request=pending)
    assert links.count() == 4
    assert {link.user.username for link in links} == {"alice", "bob"}
    for link in links:
        assert link.used_at is None
        assert timedelta(days=2) - timedelta(minutes=1) < link.expires_at - timezone.now() <= timedelta(days=2)


def test_an_sla_breach_email_links_the_request_but_carries_no_decision_links(
    pending: ApprovalRequest, people: dict[str, User], mailoutbox: list[Any]
) -> None:
    notifications.notify("approval.sla_breached", pending)

    message = _mail_for(mailoutbox, people["alice"])
    assert "Approval overdue" in message.subject
    assert f"{settings.STEWARD_BASE_URL}/approvals/{pending.id}/" in message.body
    assert _links(message.body) == {}
    assert not ActionLink.objects.exists()


@override_settings(STEWARD_EMAIL_NOTIFICATIONS=False)
def test_email_notifications_can_be_turned_off(
    pending: ApprovalRequest, people: dict[str, User], mailoutbox: list[Any]
) -> None:
    notifications.notify("approval.requested", pending)
    assert mailoutbox == [] and not ActionLink.objects.exists()


def test_get_shows_a_confirmation_page_and_decides_nothing(
    pending: ApprovalRequest, people: dict[str, User], mailoutbox: list[Any], client_for: ClientFor
) -> None:
    alice = people["alice"]
    links = _notified_links(pending, mailoutbox, alice)
    client = client_for(alice)

    for decision in ("approve", "reject"):
        page = client.get(links[decision])
        assert page.status_code == 200
        html = page.content.decode()
        assert pending.summary in html and "issue_refund" in html
        assert f"Confirm: {decision}" in html
        assert 'method="post"' in html and 'name="csrfmiddlewaretoken"' in html
        assert ('name="comment"' in html) == (decision == "reject")
        for value in pending.proposed_args.values():
            assert str(value) in html

    pending.refresh_from_db()
    assert pending.status == "pending" and not Decision.objects.filter(request=pending).exists()
    assert not ActionLink.objects.filter(used_at__isnull=False).exists()
    assert Run.objects.get(id=pending.run_id).status == "waiting"


def test_post_approves_once_and_a_second_post_finds_the_link_used(
    pending: ApprovalRequest, people: dict[str, User], mailoutbox: list[Any], client_for: ClientFor
) -> None:
    alice = people["alice"]
    links = _notified_links(pending, mailoutbox, alice)
    client = client_for(alice, enforce_csrf=True)
    page = client.get(links["approve"])
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)

    done = client.post(links["approve"], {"csrfmiddlewaretoken": token})
    assert done.status_code == 200, done.content
    assert "Approved" in done.content.decode()
    pending.refresh_from_db()
    assert pending.status == "approved" and pending.decided_by == alice
    assert Run.objects.get(id=pending.run_id).status == "queued"
    assert ActionLink.objects.get(request=pending, user=alice, decision="approve").used_at is not None

    again = client.post(links["approve"], {"csrfmiddlewaretoken": token})
    assert again.status_code == 410
    assert "already used" in again.content.decode()
    assert Decision.objects.filter(request=pending).count() == 1
    # The other link of the pair has nothing left to decide either.
    other = client.get(links["reject"])
    assert other.status_code == 410 and "already approved" in other.content.decode()


def test_post_rejects_with_the_comment(pending: ApprovalRequest, people: dict[str, User], mailoutbox: list[Any], client_for: ClientFor) -> None:
    alice = people["alice"]
    links = _notified_links(pending, mailoutbox, alice)

    done = client_for(alice).post(links["reject"], {"comment": "wrong order", "reason_code": "incorrect"})

    assert done.status_code == 200, done.content
    pending.refresh_from_db()
    assert pending.status == "rejected"
    assert pending.resume_value["comment"] == "wrong order" and pending.resume_value["reason_code"] == "incorrect"
    assert Decision.objects.get(request=pending).comment == "wrong order"


def test_a_refused_decision_leaves_the_link_usable(
    pending: ApprovalRequest, people: dict[str, User], mailoutbox: list[Any], client_for: ClientFor
) -> None:
    """A reason code the queue does not know: 422 with the form again, and the link still works."""
    alice = people["alice"]
    links = _notified_links(pending, mailoutbox, alice)
    client = client_for(alice)

    refused = client.post(links["reject"], {"comment": "no", "reason_code": "not-a-code"})
    assert refused.status_code == 422
    assert "Not recorded" in refused.content.decode() and "Confirm: reject" in refused.content.decode()
    assert ActionLink.objects.get(request=pending, user=alice, decision="reject").used_at is None

    assert client.post(links["reject"], {"comment": "no", "reason_code": "policy"}).status_code == 200
    pending.refresh_from_db()
    assert pending.status == "rejected"


def test_expired_and_tampered_links_get_a_clear_page(
    pending: ApprovalRequest, people: dict[str, User], mailoutbox: list[Any], client_for: ClientFor
) -> None:
    alice = people["alice"]
    links = _notified_links(pending, mailoutbox, alice)
    client = client_for(alice)

    ActionLink.objects.filter(request=pending, user=alice, decision="approve").update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    for response in (client.get(links["approve"]), client.post(links["approve"])):
        assert response.status_code == 410 and "expired" in response.content.decode()

    token = links["reject"].split("/")[-2]
    other_salt = signing.TimestampSigner(salt="not-steward").sign(str(link_from_token(token).id))
    for bad in (
        token[:-1] + ("A" if token[-1] != "A" else "B"),  # a changed signature
        token.replace(token.split(":")[0], str(uuid.uuid4())),  # another link's id, same signature
        "not-a-token",
        other_salt,
    ):
        for response in (client.get(f"/approvals/link/{bad}/"), client.post(f"/approvals/link/{bad}/")):
            assert response.status_code == 400, bad
            assert "not valid" in response.content.decode()

    pending.refresh_from_db()
    assert pending.status == "pending" and not Decision.objects.filter(request=pending).exists()


def test_someone_elses_link_is_forbidden(pending: ApprovalRequest, people: dict[str, User], mailoutbox: list[Any], client_for: ClientFor) -> None:
    links = _notified_links(pending, mailoutbox, people["alice"])
    bob = client_for(people["bob"])

    assert bob.get(links["approve"]).status_code == 403
    forbidden = bob.post(links["approve"])
    assert forbidden.status_code == 403 and "another reviewer" in forbidden.content.decode()

    pending.refresh_from_db()
    assert pending.status == "pending"
    assert not ActionLink.objects.filter(used_at__isnull=False).exists()


def test_a_link_needs_a_login_first(pending: ApprovalRequest, people: dict[str, User], mailoutbox: list[Any]) -> None:
    links = _notified_links(pending, mailoutbox, people["alice"])

    response = Client().get(links["approve"])

    assert response.status_code == 302
    assert response["Location"].startswith(settings.LOGIN_URL) and "next=" in response["Location"]


def test_a_link_to_a_request_decided_elsewhere_decides_nothing(
    pending: ApprovalRequest, people: dict[str, User], mailoutbox: list[Any], client_for: ClientFor
) -> None:
    links = _notified_links(pending, mailoutbox, people["alice"])
    decide(pending.id, people["bob"], "reject", comment="bob was quicker")

    response = client_for(people["alice"]).post(links["approve"])

    assert response.status_code == 410 and "already rejected" in response.content.decode()
    pending.refresh_from_db()
    assert pending.status == "rejected" and Decision.objects.filter(request=pending).count() == 1
