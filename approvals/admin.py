from django.contrib import admin

from approvals.models import ApprovalRequest, AuditEvent, Decision, Queue


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = ["name", "required_approvals"]
    filter_horizontal = ["reviewer_groups"]


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

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
