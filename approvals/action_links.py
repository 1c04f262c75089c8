"""One-time approve/reject links sent by email: create them, sign them, and read them back.

A link's token is its ActionLink id signed with a TimestampSigner, so a forged or altered token
never reaches the database. The row is the truth for everything else: whose link it is, its
expiry, and whether it has been used.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from approvals.models import ActionLink, ApprovalRequest

__all__ = [
    "LIFETIME",
    "InvalidLink",
    "LinkAlreadyUsed",
    "create_links",
    "link_from_token",
    "token_for",
    "url_for",
]

SALT = "steward.action-link"
LIFETIME = timedelta(days=2)
DECISIONS = ("approve", "reject")


class InvalidLink(Exception):
    """The token is not one Steward signed (tampered, truncated, or another salt)."""


class LinkAlreadyUsed(Exception):
    """Another use of this link got there first."""


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=SALT)


def token_for(link: ActionLink) -> str:
    """The signed token of a link.

    Args:
        link: a saved ActionLink.

    Returns:
        The token that goes into /approvals/link/<token>/.
    """
    return _signer().sign(str(link.id))


def url_for(link: ActionLink) -> str:
    """The absolute URL of a link's confirmation page (STEWARD_BASE_URL + path).

    Args:
        link: a saved ActionLink.

    Returns:
        The URL to put in an email.
    """
    return settings.STEWARD_BASE_URL + reverse("approval_link", args=[token_for(link)])


def create_links(request: ApprovalRequest, users: Iterable[Any]) -> dict[int, dict[str, ActionLink]]:
    """An approve and a reject link per user, in one insert, valid for LIFETIME.

    Args:
        request: the pending request the links decide.
        users: the reviewers who get links.

    Returns:
        {user id: {"approve": link, "reject": link}}.
    """
    expires_at = timezone.now() + LIFETIME
    links = [
        ActionLink(request=request, user=user, decision=decision, expires_at=expires_at)
        for user in users
        for decision in DECISIONS
    ]
    ActionLink.objects.bulk_create(links)
    by_user: dict[int, dict[str, ActionLink]] = {}
    for link in links:
        by_user.setdefault(link.user_id, {})[link.decision] = link
    return by_user


def link_from_token(token: str) -> ActionLink | None:
    """The link a token names, with its request and queue.

    The signature's own age is checked too (LIFETIME), so even a row whose expiry was somehow
    extended cannot outlive the token it was mailed with.

    Args:
        token: the token from the URL.

    Returns:
        The ActionLink, or None if the token is genuine but its row is gone.

    Raises:
        InvalidLink: the signature is wrong or the token is malformed.
        signing.SignatureExpired: the token is older than LIFETIME.
    """
    try:
        value = _signer().unsign(token, max_age=LIFETIME)
    except signing.SignatureExpired:
        raise
    except signing.BadSignature:
        raise InvalidLink("this link is not valid") from None
    try:
        link_id = uuid.UUID(value)
    except ValueError:
        raise InvalidLink("this link is not valid") from None
    return ActionLink.objects.select_related("request__queue", "request__run", "user").filter(id=link_id).first()
