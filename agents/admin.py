from django.contrib import admin

from agents.demo.models import Refund
from agents.engine.models import Agent, IdempotencyRecord, Run


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ["key", "name", "is_registered", "updated_at"]


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["id", "agent", "status", "created_at", "created_by", "attempts"]
    list_filter = ["status", "agent"]


admin.site.register(IdempotencyRecord)
admin.site.register(Refund)
