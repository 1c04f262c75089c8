"""The promotion request page's regression replays (agents/prompt_admin/regression_views.py)."""

from django.urls import path

from agents.prompt_admin import regression_views as prompt_regression_views

urlpatterns = [
    path(
        "approvals/<uuid:approval_id>/regression",
        prompt_regression_views.promotion_regression,
        name="promotion_regression",
    ),
]
