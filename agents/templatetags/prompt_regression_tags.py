"""`{% promotion_regression approval as regression %}`: the regression panel's data, so the
approval request page can include the panel without its view knowing about prompts."""

from __future__ import annotations

from typing import Any

from django import template

from agents.prompt_admin.regression import regression_context
from approvals.models import ApprovalRequest

register = template.Library()

__all__ = ["promotion_regression"]


@register.simple_tag(takes_context=True)
def promotion_regression(context: template.Context, approval: ApprovalRequest) -> dict[str, Any]:
    return regression_context(approval, context.get("user"))
