"""The demo's business table: refunds the `refund` agent has issued (an `agents` app model)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from agents.engine.models import Run


class Refund(models.Model):
    """The demo's business table: refunds the `refund` agent has issued."""

    order_id = models.CharField(max_length=64)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    approval_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["order_id"], name="refund_once_per_order")]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.amount}"
