"""Queue pages: the list (reviewers and admins), analytics (a queue's reviewers), and management
(admins only): a queue's rules, its webhooks, and each webhook's delivery log.

Every change an admin makes here is written to the audit log in the same transaction as the change.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Count, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from approvals.models import ApprovalRequest, Queue, Webhook, WebhookDelivery
from approvals.queue_forms import QueueForm, WebhookForm, audit_values
from approvals.stats import pending_count_subquery, queue_stats
from approvals.webhooks import deliver_webhook
from console.kernel import audit
from console.kernel.cursors import decode_cursor, encode_cursor
from console.kernel.errors import StewardError
from console.kernel.pages import require
from console.kernel.roles import REVIEWERS, has_role, is_admin

__all__ = [
    "human_duration",
    "queue_analytics",
    "queue_create",
    "queue_edit",
    "queue_list",
    "webhook_detail",
    "webhook_list",
    "webhook_redeliver",
    "webhook_rotate_secret",
    "webhook_toggle",
]

# The analytics page offers these windows; anything else asked for falls back to the default.
PERIODS = (7, 30, 90)
DEFAULT_PERIOD = 30
# Deliveries shown per page of a webhook's delivery log.
DELIVERY_PAGE = 100


def human_duration(seconds: float | None) -> str:
    """A duration as people read it: "45 s", "12 min 5 s", "3 h 20 min", "2 d 4 h"; "–" for None.

    Two units at most: the figure is for a glance, the API has the exact seconds.
    """
    if seconds is None:
        return "–"
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    units = [("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1)]
    for index, (name, size) in enumerate(units):
        if total >= size:
            big, rest = divmod(total, size)
            small_name, small_size = units[index + 1]
            small = rest // small_size
            return f"{big} {name}" + (f" {small} {small_name}" if small else "")
    return f"{total} s"  # unreachable: total >= 60 matched a unit above


def _percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.0f} %"


def _overdue_count_subquery(now: datetime) -> Coalesce:
    """Pending requests of the outer queue past their due time (same shape as the pending count)."""
    overdue = (
        ApprovalRequest.objects.filter(
            queue=OuterRef("pk"), status=ApprovalRequest.Status.PENDING, due_at__lt=now
        )
        .order_by()
        .values("queue")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Coalesce(Subquery(overdue), 0)


def _visible_queues(user: Any) -> QuerySet[Queue]:
    """The queues `user` reviews (admins: all), with backlog counts, in a fixed number of queries."""
    queues = (
        Queue.objects.select_related("escalation_queue")
        .prefetch_related(
            Prefetch("reviewer_groups", queryset=Group.objects.only("id", "name").order_by("name"))
        )
        .annotate(pending=pending_count_subquery(), overdue=_overdue_count_subquery(timezone.now()))
        .order_by("name")
    )
    if is_admin(user):
        webhooks = (
            Webhook.objects.filter(queue=OuterRef("pk"))
            .order_by()
            .values("queue")
            .annotate(n=Count("id"))
            .values("n")
        )
        return queues.annotate(webhook_count=Coalesce(Subquery(webhooks), 0))
    # A subquery, not a join: a reviewer in two of a queue's groups must not see it twice.
    return queues.filter(id__in=Queue.objects.filter(reviewer_groups__user=user).values("id"))


@login_required
def queue_list(request: HttpRequest) -> HttpResponse:
    """Reviewers: the queues they review, with backlog and SLA. Admins: all, with management links."""
    require(has_role(request.user, REVIEWERS))
    queues = list(_visible_queues(request.user))
    for queue in queues:
        queue.sla_text = human_duration(queue.sla_minutes * 60)
    return render(
        request, "approvals/queues/queue_list.html", {"queues": queues, "is_admin": is_admin(request.user)}
    )


def _queue_form_page(request: HttpRequest, queue: Queue) -> HttpResponse:
    """Create (an unsaved `queue`) or edit a queue; an invalid POST answers 422 with the form."""
    creating = queue.pk is None
    original_name = queue.name
    if request.method == "POST":
        form = QueueForm(request.POST, instance=queue)
        if form.is_valid():
            # Everything is set on creation; on an edit, only what differs from what was there.
            changed = list(form.fields) if creating else form.changed_data
            if not changed:
                messages.info(request, f"Nothing changed in {queue.name}.")
                return redirect("queue_list")
            with transaction.atomic():
                saved = form.save()
                audit.record(
                    request.user,
                    "queue.created" if creating else "queue.updated",
                    saved,
                    changed=changed,
                    values=audit_values(form, changed),
                )
            messages.success(request, f"Queue {saved.name} {'created' if creating else 'saved'}.")
            return redirect("queue_list")
        status = 422
    else:
        form = QueueForm(instance=queue)
        status = 200
    return render(
        request,
        "approvals/queues/queue_form.html",
        {"form": form, "queue": queue, "creating": creating, "original_name": original_name},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def queue_create(request: HttpRequest) -> HttpResponse:
    require(is_admin(request.user))
    return _queue_form_page(request, Queue())


@login_required
@require_http_methods(["GET", "POST"])
def queue_edit(request: HttpRequest, name: str) -> HttpResponse:
    require(is_admin(request.user))
    return _queue_form_page(request, get_object_or_404(Queue, name=name))


@login_required
def queue_analytics(request: HttpRequest, name: str) -> HttpResponse:
    """A queue's statistics as figures and charts, for the last 7, 30 or 90 days (?days=)."""
    require(has_role(request.user, REVIEWERS))
    queue = get_object_or_404(Queue, name=name)
    require(queue.is_reviewer(request.user))
    try:
        days = int(request.GET.get("days", DEFAULT_PERIOD))
    except ValueError:
        days = DEFAULT_PERIOD
    if days not in PERIODS:
        days = DEFAULT_PERIOD
    stats = queue_stats(queue, days=days)
    figures = {
        "median": human_duration(stats["median_decision_seconds"]),
        "p95": human_duration(stats["p95_decision_seconds"]),
        "approval_rate": _percent(stats["approval_rate"]),
        "rejection_rate": _percent(stats["rejection_rate"]),
    }
    return render(
        request,
        "approvals/queues/queue_analytics.html",
        {"queue": queue, "stats": stats, "figures": figures, "days": days, "periods": PERIODS},
    )


# --- webhooks --------------------------------------------------------------------------------


def _admin_queue(request: HttpRequest, name: str) -> Queue:
    require(is_admin(request.user))
    return get_object_or_404(Queue, name=name)


def _queue_webhook(request: HttpRequest, name: str, webhook_id: int) -> Webhook:
    """The webhook `webhook_id` of queue `name` (404 when it belongs to another queue)."""
    require(is_admin(request.user))
    return get_object_or_404(Webhook.objects.select_related("queue"), id=webhook_id, queue__name=name)


def _webhooks_with_failures(queue: Queue) -> QuerySet[Webhook]:
    """The queue's webhooks, each with `failed`: how many of its deliveries failed."""
    failed = (
        WebhookDelivery.objects.filter(webhook=OuterRef("pk"), status=WebhookDelivery.Status.FAILED)
        .order_by()
        .values("webhook")
        .annotate(n=Count("id"))
        .values("n")
    )
    return queue.webhooks.annotate(failed=Coalesce(Subquery(failed), 0)).order_by("name", "id")


@login_required
@require_http_methods(["GET", "POST"])
def webhook_list(request: HttpRequest, name: str) -> HttpResponse:
    """A queue's webhooks, and the form that adds one (its page then shows the new secret)."""
    queue = _admin_queue(request, name)
    status = 200
    if request.method == "POST":
        form = WebhookForm(request.POST)
        if form.is_valid():
            webhook = form.create_for(queue, request.user)
            messages.success(request, f"Webhook {webhook.name} created: give its receiver the secret below.")
            return redirect("webhook_detail", name=queue.name, webhook_id=webhook.id)
        status = 422
    else:
        form = WebhookForm()
    return render(
        request,
        "approvals/queues/webhook_list.html",
        {
            "queue": queue,
            "webhooks": _webhooks_with_failures(queue),
            "form": form,
            # Webhooks without a queue get every queue's events; they are managed in the admin.
            "global_webhooks": Webhook.objects.filter(queue__isnull=True).count(),
        },
        status=status,
    )


def _deliveries(webhook: Webhook, before: str | None) -> tuple[list[WebhookDelivery], str | None]:
    """One page of the delivery log, newest first, from keyset cursor `before`.

    Returns the rows and the cursor of the next (older) page, or None when there is none. Keyset,
    not offset: a log that grows while someone pages through it neither skips nor repeats rows.
    """
    rows = (
        WebhookDelivery.objects.filter(webhook=webhook)
        # The payload can be large and the log does not show it.
        .defer("payload")
        .order_by("-created_at", "-id")
    )
    if before:
        when, row_id = decode_cursor(before)
        rows = rows.filter(Q(created_at__lt=when) | Q(created_at=when, id__lt=row_id))
    page = list(rows[: DELIVERY_PAGE + 1])
    if len(page) <= DELIVERY_PAGE:
        return page, None
    page = page[:DELIVERY_PAGE]
    return page, encode_cursor(page[-1].created_at, page[-1].id)


@login_required
@require_http_methods(["GET", "POST"])
def webhook_detail(request: HttpRequest, name: str, webhook_id: int) -> HttpResponse:
    """A webhook: its settings form, secret, active switch and delivery log (?before= pages back)."""
    webhook = _queue_webhook(request, name, webhook_id)
    status = 200
    if request.method == "POST":
        form = WebhookForm(request.POST, instance=webhook)
        if form.is_valid():
            if form.save_changes(request.user):
                messages.success(request, f"Webhook {webhook.name} saved.")
            else:
                messages.info(request, "Nothing changed.")
            return redirect("webhook_detail", name=name, webhook_id=webhook.id)
        status = 422
        # The form holds the typed values; the page's other parts show what is saved.
        webhook.refresh_from_db()
    else:
        form = WebhookForm(instance=webhook)
    before = request.GET.get("before") or None
    try:
        deliveries, older = _deliveries(webhook, before)
    except StewardError:
        return HttpResponseBadRequest("invalid cursor", content_type="text/plain")
    return render(
        request,
        "approvals/queues/webhook_detail.html",
        {
            "queue": webhook.queue,
            "webhook": webhook,
            "form": form,
            "deliveries": deliveries,
            "older": older,
            "paged": bool(before),
            "failed_status": WebhookDelivery.Status.FAILED,
        },
        status=status,
    )


@login_required
@require_POST
def webhook_toggle(request: HttpRequest, name: str, webhook_id: int) -> HttpResponse:
    """Switch a webhook on or off; an inactive one gets no new deliveries."""
    webhook = _queue_webhook(request, name, webhook_id)
    with transaction.atomic():
        webhook.is_active = not webhook.is_active
        webhook.save(update_fields=["is_active"])
        audit.record(
            request.user, "webhook.updated", webhook, changed=["is_active"], is_active=webhook.is_active
        )
    messages.success(
        request, f"Webhook {webhook.name} {'activated' if webhook.is_active else 'deactivated'}."
    )
    return redirect("webhook_detail", name=name, webhook_id=webhook.id)


@login_required
@require_POST
def webhook_rotate_secret(request: HttpRequest, name: str, webhook_id: int) -> HttpResponse:
    """Replace a webhook's secret; deliveries signed from now on (retries included) use the new one."""
    webhook = _queue_webhook(request, name, webhook_id)
    with transaction.atomic():
        webhook.secret = secrets.token_hex()
        webhook.save(update_fields=["secret"])
        # Never the secret itself in the log: only that it changed.
        audit.record(request.user, "webhook.secret_rotated", webhook, changed=["secret"])
    messages.success(
        request, f"New secret for {webhook.name}: update its receiver, the old one no longer verifies."
    )
    return redirect("webhook_detail", name=name, webhook_id=webhook.id)


@login_required
@require_POST
def webhook_redeliver(
    request: HttpRequest, name: str, webhook_id: int, delivery_id: uuid.UUID
) -> HttpResponse:
    """Send a failed delivery again, as a fresh delivery of the same payload (all attempts anew)."""

    webhook = _queue_webhook(request, name, webhook_id)
    delivery = get_object_or_404(WebhookDelivery.objects.defer("payload"), id=delivery_id, webhook=webhook)
    with transaction.atomic():
        # Conditional: of two admins clicking at once, only one re-sends. The attempt count starts
        # over so the delivery gets the whole retry schedule again; the old count goes to the audit
        # log. next_attempt_at is now, so if the Celery message is lost the SLA sweep re-sends it.
        reset = WebhookDelivery.objects.filter(
            id=delivery.id, webhook=webhook, status=WebhookDelivery.Status.FAILED
        ).update(
            status=WebhookDelivery.Status.PENDING,
            attempts=0,
            next_attempt_at=timezone.now(),
            delivered_at=None,
        )
        if reset:
            audit.record(
                request.user,
                "webhook.delivery_resent",
                delivery,
                webhook=webhook.id,
                event=delivery.event,
                previous_attempts=delivery.attempts,
                previous_error=delivery.last_error,
            )
            # After commit: the worker must find the row already pending.
            transaction.on_commit(lambda: deliver_webhook.apply_async(args=(str(delivery.id),)))
    if reset:
        messages.success(request, f"Delivery of {delivery.event} queued to be sent again.")
    else:
        messages.error(request, f"Only a failed delivery can be sent again; this one is {delivery.status}.")
    return redirect("webhook_detail", name=name, webhook_id=webhook.id)
