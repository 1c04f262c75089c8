from django.contrib import admin
from django.http import HttpRequest

from approvals.models import ApprovalRequest, Decision, Queue, Webhook, WebhookDelivery
from approvals.queue_forms import WebhookAdminForm
from console.kernel.models import AuditEvent


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = ["name", "required_approvals", "sla_minutes", "timeout_action", "escalation_queue"]
    filter_horizontal = ["reviewer_groups", "excluded_groups"]
    fieldsets = [
        (None, {"fields": ["name", "description"]}),
        ("Who decides", {"fields": ["reviewer_groups", "excluded_groups", "required_approvals"]}),
        ("Time", {"fields": ["sla_minutes", "claim_minutes", "timeout_action", "escalation_queue"]}),
        ("Rejections", {"fields": ["reason_codes"]}),
    ]


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(admin.ModelAdmin):
    list_display = ["id", "queue", "action", "status", "created_at", "decided_by"]
    list_filter = ["status", "queue"]
    readonly_fields = [f.name for f in ApprovalRequest._meta.fields]


@admin.register(Decision)
class DecisionAdmin(admin.ModelAdmin):
    list_display = ["request", "user", "decision", "created_at"]
    readonly_fields = [f.name for f in Decision._meta.fields]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["id", "at", "actor", "action", "object_type", "object_id"]
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    # Refuses URLs to internal addresses, as the queue pages do.
    form = WebhookAdminForm
    list_display = ["name", "url", "queue", "format", "is_active"]
    list_filter = ["is_active", "format", "queue"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The delivery log: every attempt updates its row; nobody edits it by hand."""

    list_display = ["created_at", "webhook", "event", "status", "attempts", "last_status_code", "delivered_at"]
    list_filter = ["status", "event", "webhook"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
