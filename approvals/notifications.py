"""Notifications for approval events: signed webhooks (JSON or Slack), email with one-time links;
and for prompt changes and runs in the dead-letter list (`notify_prompt_event`, `notify_dead_letter`).

`notify()` is the entry point; the services call it after commit. It only writes rows and hands
work on: one WebhookDelivery per matching webhook (sent by the `approvals.deliver_webhook` task,
which retries), and one email per reviewer through Django's email backend. A request put to the
run's requester (`ApprovalRequest.is_put_to`: by default a question) is mailed to them as well
when it opens, with the link to its page, where they answer it.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from agents.engine.models import DeadLetter
from approvals import action_links
from approvals.models import ApprovalRequest, Webhook, WebhookDelivery
from approvals.shown_args import shown
from approvals.webhooks import deliver_webhook
from console.kernel.pages import pretty
from console.kernel.redaction import redact_text
from console.kernel.roles import ADMINS, ENGINEERS

__all__ = [
    "DEAD_LETTER_EVENT",
    "EVENTS",
    "approval_payload",
    "dead_letter_payload",
    "dead_letter_recipients",
    "email_recipients",
    "requester_to_ask",
    "json_payload",
    "matching_webhooks",
    "notify",
    "notify_dead_letter",
    "notify_prompt_event",
    "request_url",
    "slack_payload",
    "unscoped_webhooks",
]

log = logging.getLogger(__name__)

EVENTS = Webhook.EVENTS
TITLES = {
    "approval.requested": "Approval requested",
    "approval.sla_breached": "Approval overdue",
    "approval.escalated": "Approval escalated",
}
# Events that ask someone to decide: their emails carry one-time approve/reject links.
DECISION_EVENTS = ("approval.requested", "approval.escalated")
# Slack refuses a section text over 3000 characters; a summary is a sentence, not a document.
_SLACK_SUMMARY_CHARS = 1500


def notify(event: str, request: ApprovalRequest) -> None:
    """Send `event` about `request` to every matching webhook and to the queue's reviewers (and,
    when it opens a request put to the run's requester, to them: `requester_to_ask`).

    Never raises: it runs after the caller's commit, where an exception would only lose the rest
    of the caller's work. Failures are logged; webhook deliveries retry on their own.

    Args:
        event: one of EVENTS ("approval.requested", "approval.sla_breached", "approval.escalated").
        request: the approval request the event is about.
    """
    if event not in EVENTS:
        log.error("notify: unknown event %r for approval %s", event, getattr(request, "pk", None))
        return
    try:
        _queue_webhooks(event, request)
    except Exception:  # noqa: BLE001 - see the docstring: log, never raise into the caller
        log.exception("notify: webhooks for %s of approval %s failed", event, request.pk)
    if settings.STEWARD_EMAIL_NOTIFICATIONS:
        try:
            _send_emails(event, request)
        except Exception:  # noqa: BLE001
            log.exception("notify: email for %s of approval %s failed", event, request.pk)


# --- payloads ---------------------------------------------------------------------------------


def request_url(request: ApprovalRequest) -> str:
    """The absolute URL of the request's page.

    Args:
        request: an approval request.

    Returns:
        STEWARD_BASE_URL + /approvals/<id>/.
    """
    return settings.STEWARD_BASE_URL + reverse("approval_detail", args=[request.id])


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def approval_payload(request: ApprovalRequest) -> dict[str, Any]:
    """The request as webhook receivers see it.

    Args:
        request: an approval request.

    Returns:
        {id, queue, action, summary, proposed_args, status, due_at, run_id, requested_by, created_at}.
    """
    return {
        "id": str(request.id),
        "queue": request.queue.name,
        "action": request.action,
        "summary": request.summary,
        "proposed_args": shown(request.proposed_args),
        "status": request.status,
        "due_at": _iso(request.due_at),
        "run_id": str(request.run_id) if request.run_id else None,
        "requested_by": request.requested_by.get_username() if request.requested_by else None,
        "created_at": _iso(request.created_at),
    }


def json_payload(event: str, request: ApprovalRequest) -> dict[str, Any]:
    """The body of a JSON webhook.

    Args:
        event: the event name.
        request: the approval request.

    Returns:
        {"event", "approval": approval_payload(request), "url"}.
    """
    return {"event": event, "approval": approval_payload(request), "url": request_url(request)}


def _slack_escape(text: str) -> str:
    # Slack reads <...> as links and mentions: a summary written by a model must stay text.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(event: str, request: ApprovalRequest) -> dict[str, Any]:
    """The body of a Slack-compatible incoming webhook: a fallback `text` and Block Kit `blocks`.

    Args:
        event: the event name.
        request: the approval request.

    Returns:
        {"text": ..., "blocks": [...]}.
    """
    url = request_url(request)
    title = TITLES.get(event, event)
    queue = _slack_escape(request.queue.name)
    action = _slack_escape(request.action)
    summary = _slack_escape(request.summary[:_SLACK_SUMMARY_CHARS] or request.action)
    due = request.due_at.strftime("%Y-%m-%d %H:%M UTC") if request.due_at else "–"
    return {
        "text": f"{title} in {queue}: {summary} <{url}|Open the request>",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}* in *{queue}*\n{summary}"}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*Action*\n{action}"},
                    {"type": "mrkdwn", "text": f"*Due*\n{due}"},
                ],
            },
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": "Open the request"}, "url": url}
                ],
            },
        ],
    }


# --- webhooks ---------------------------------------------------------------------------------


def matching_webhooks(event: str, request: ApprovalRequest) -> list[Webhook]:
    """Active webhooks for the request's queue (or every queue) that want `event` (or every event)."""
    candidates = Webhook.objects.filter(is_active=True).filter(Q(queue__isnull=True) | Q(queue_id=request.queue_id))
    # `events` is filtered here, not in SQL: JSON containment is not portable to SQLite, and a
    # site has a handful of webhooks.
    return [webhook for webhook in candidates if not webhook.events or event in webhook.events]


def _queue_webhooks(event: str, request: ApprovalRequest) -> list[WebhookDelivery]:
    webhooks = matching_webhooks(event, request)
    if not webhooks:
        return []
    bodies: dict[str, Any] = {
        Webhook.Format.JSON: json_payload(event, request),
        Webhook.Format.SLACK: slack_payload(event, request),
    }
    return _create_deliveries(webhooks, event, bodies)


def _create_deliveries(webhooks: list[Webhook], event: str, bodies: dict[str, Any]) -> list[WebhookDelivery]:
    """One delivery row per webhook, in its format, then the messages that try them."""
    now = timezone.now()
    deliveries = [
        WebhookDelivery(
            webhook=webhook,
            event=event,
            payload=bodies.get(webhook.format, bodies[Webhook.Format.JSON]),
            # Due now: the row says when it should be tried, whatever happens to the message.
            next_attempt_at=now,
        )
        for webhook in webhooks
    ]
    WebhookDelivery.objects.bulk_create(deliveries)
    ids = [str(delivery.id) for delivery in deliveries]
    # Right away when called after commit, as intended; after the commit if someone calls this
    # inside a transaction, so a worker never looks for a row it cannot see yet.
    transaction.on_commit(lambda: _send_deliveries(ids))
    return deliveries


def _send_deliveries(ids: list[str]) -> None:

    for delivery_id in ids:
        try:
            deliver_webhook.apply_async(args=(delivery_id,))
        except Exception:  # noqa: BLE001 - the row stays pending; one lost message must not stop the rest
            log.exception("notify: could not send webhook delivery %s to the broker", delivery_id)


# --- email ------------------------------------------------------------------------------------


def email_recipients(request: ApprovalRequest) -> list[Any]:
    """Active users with an email address in the queue's reviewer groups who may decide it:
    not the run's requester (four-eyes), not a member of an excluded group.

    Args:
        request: the approval request.

    Returns:
        The users, each once.
    """
    queue = request.queue
    users = (
        get_user_model()
        .objects.filter(is_active=True, groups__in=queue.reviewer_groups.all())
        .exclude(email="")
        .exclude(groups__in=queue.excluded_groups.all())
    )
    if request.requested_by_id is not None:
        users = users.exclude(pk=request.requested_by_id)
    return list(users.distinct().order_by("pk"))


def _subject(event: str, request: ApprovalRequest) -> str:
    # A header: one line, whatever the agent put in its action name.
    text = f"[Steward] {TITLES.get(event, event)}: {request.action} ({request.queue.name})"
    return " ".join(text.split())[:200]


def requester_to_ask(event: str, request: ApprovalRequest) -> Any:
    """The run's requester, when `event` opens a request put to them (`ApprovalRequest.is_put_to`)
    and they can be mailed (active, with an address) and answer it (no excluded group); else
    None. Not for a gate's four-eyes approval: that is the reviewers' (`email_recipients`)."""
    asker = request.requested_by
    if event != "approval.requested" or request.status != ApprovalRequest.Status.PENDING:
        return None
    if asker is None or not asker.is_active or not asker.email or not request.is_put_to(asker):
        return None
    return None if request.queue.excludes(asker) else asker


def _send_emails(event: str, request: ApprovalRequest) -> int:
    messages = _reviewer_emails(event, request)
    asker = requester_to_ask(event, request)
    if asker is not None:
        # The page, not one-time links: an answer is typed (or its form filled), and the page
        # takes it from the requester as from a reviewer.
        body = render_to_string("approvals/email/question.txt", {"approval": request, "user": asker, "url": request_url(request)})
        subject = " ".join(f"[Steward] Your run asks you: {request.summary or request.action}".split())[:200]
        messages.append(EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [asker.email]))
    if not messages:
        return 0
    # One connection for the lot: an SMTP backend logs in once, not once per reviewer.
    sent = get_connection().send_messages(messages)
    return int(sent or 0)


def _reviewer_emails(event: str, request: ApprovalRequest) -> list[EmailMessage]:
    recipients = email_recipients(request)
    if not recipients:
        return []
    links: dict[int, dict[str, Any]] = {}
    if event in DECISION_EVENTS and request.status == ApprovalRequest.Status.PENDING:
        links = action_links.create_links(request, recipients)
    context = {
        "title": TITLES.get(event, event),
        "event": event,
        "approval": request,
        "args": pretty(shown(request.proposed_args)),
        "url": request_url(request),
    }
    messages = []
    for user in recipients:
        own = links.get(user.pk, {})
        body = render_to_string(
            "approvals/email/notification.txt",
            {
                **context,
                "user": user,
                "approve_url": action_links.url_for(own["approve"]) if own else "",
                "reject_url": action_links.url_for(own["reject"]) if own else "",
                "links_expire": own["approve"].expires_at if own else None,
            },
        )
        messages.append(EmailMessage(_subject(event, request), body, settings.DEFAULT_FROM_EMAIL, [user.email]))
    return messages


# --- prompt changes ---------------------------------------------------------------------------

def unscoped_webhooks(event: str) -> list[Webhook]:
    """Active webhooks not tied to a queue that want `event` (or every event): those that hear
    about prompts and runs, which belong to no queue."""
    return [
        webhook
        for webhook in Webhook.objects.filter(is_active=True, queue__isnull=True)
        if not webhook.events or event in webhook.events
    ]


def notify_prompt_event(event: str, payload: dict[str, Any]) -> list[WebhookDelivery]:
    """Signed deliveries of a prompt change to webhooks that are not tied to a queue and want
    the event (or every event): the same signing, retries and delivery log as approvals."""
    webhooks = unscoped_webhooks(event)
    if not webhooks:
        return []
    body = {"event": event, "sent_at": timezone.now().isoformat(), "prompt": payload}
    text = f"Steward: {event.replace('prompt.', 'prompt ').replace('_', ' ')}: {_slack_escape(str(payload.get('prompt', '')))}"
    return _create_deliveries(webhooks, event, {Webhook.Format.JSON: body, Webhook.Format.SLACK: {"text": text}})


# --- runs in the dead-letter list -------------------------------------------------------------

DEAD_LETTER_EVENT = "run.dead_lettered"
# A failure storm (a provider down for an hour) must not bury engineers in mail: at most one
# email per agent this often; the webhook still reports every run. STEWARD_DEAD_LETTER_EMAIL_SECONDS.
DEAD_LETTER_EMAIL_SECONDS = 600
# The first line of an error is what a person scans; the run page has the rest.
_ERROR_CHARS = 500


def _first_line(text: str) -> str:

    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    # An error may quote a provider's message, keys and all: it leaves Steward redacted.
    return redact_text(line[:_ERROR_CHARS])


def dead_letter_payload(letter: Any, run: Any) -> dict[str, Any]:
    """The body of a JSON `run.dead_lettered` webhook.

    Returns:
        {"event", "sent_at", "run": {id, agent, status, error, attempts, failures, failed_at,
        url}, "dead_letters_url"}.
    """
    return {
        "event": DEAD_LETTER_EVENT,
        "sent_at": timezone.now().isoformat(),
        "run": {
            "id": str(run.id),
            "agent": run.agent.key,
            "status": run.status,
            "error": _first_line(letter.error),
            "attempts": letter.attempts,
            "failures": letter.failures,
            "failed_at": _iso(letter.failed_at),
            "url": settings.STEWARD_BASE_URL + reverse("run_detail", args=[run.id]),
        },
        "dead_letters_url": settings.STEWARD_BASE_URL + reverse("dead_letter_list"),
    }


def notify_dead_letter(letter: Any, run: Any) -> None:
    """A failed run landed in the dead-letter list: webhooks (every time) and email (throttled
    per agent) to engineers and admins. Never raises, like `notify`."""
    try:
        webhooks = unscoped_webhooks(DEAD_LETTER_EVENT)
        if webhooks:
            body = dead_letter_payload(letter, run)
            summary = _slack_escape(_first_line(letter.error)[:_SLACK_SUMMARY_CHARS] or "no error message")
            text = f"Steward: a run of {_slack_escape(run.agent.key)} failed: {summary} <{body['run']['url']}|Open the run>"
            _create_deliveries(webhooks, DEAD_LETTER_EVENT, {Webhook.Format.JSON: body, Webhook.Format.SLACK: {"text": text}})
    except Exception:  # noqa: BLE001 - never raise into the run's worker
        log.exception("notify: webhooks for the dead letter of run %s failed", run.id)
    if settings.STEWARD_EMAIL_NOTIFICATIONS:
        try:
            _email_dead_letter(letter, run)
        except Exception:  # noqa: BLE001
            log.exception("notify: email for the dead letter of run %s failed", run.id)


def dead_letter_recipients() -> list[Any]:
    """Active engineers and admins (and superusers) with an email address, each once."""

    users = (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(is_superuser=True) | Q(groups__name__in=[ENGINEERS, ADMINS]))
        .exclude(email="")
    )
    return list(users.distinct().order_by("pk"))


def _email_dead_letter(letter: Any, run: Any) -> int:

    now = timezone.now()
    interval = getattr(settings, "STEWARD_DEAD_LETTER_EMAIL_SECONDS", DEAD_LETTER_EMAIL_SECONDS)
    agent_letters = DeadLetter.objects.filter(run__agent_id=run.agent_id)
    if agent_letters.filter(emailed_at__gte=now - timedelta(seconds=interval)).exists():
        log.info("dead letter of run %s: no email, one about %s went out in the last %s s", run.id, run.agent.key, interval)
        return 0
    recipients = dead_letter_recipients()
    if not recipients:
        return 0
    context = {
        "run": run,
        "letter": letter,
        "error": redact_text(letter.error),
        "open_count": agent_letters.open().filter(run__status=run.Status.FAILED).count(),
        "interval_minutes": max(int(interval) // 60, 1),
        "run_url": settings.STEWARD_BASE_URL + reverse("run_detail", args=[run.id]),
        "list_url": settings.STEWARD_BASE_URL + reverse("dead_letter_list") + "?agent=" + run.agent.key,
    }
    body = render_to_string("approvals/email/dead_letter.txt", context)
    subject = " ".join(f"[Steward] Run failed: {run.agent.key}: {_first_line(letter.error)}".split())[:200]
    messages = [EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email]) for user in recipients]
    sent = int(get_connection().send_messages(messages) or 0)
    DeadLetter.objects.filter(pk=letter.pk).update(emailed_at=now)
    return sent
