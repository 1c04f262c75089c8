"""What every page's navigation needs: the pending-approval count (one query): for a reviewer,
the requests waiting for them; for anyone else, the questions their runs put to them (the
Approvals link shows while there are some)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from approvals.inbox import nav_count
from console.kernel.roles import REVIEWERS, can_read_runs, can_start_runs, has_role


def nav(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    if not user.is_authenticated:
        return {}
    is_reviewer = has_role(user, REVIEWERS)
    context: dict[str, Any] = {
        "nav_is_reviewer": is_reviewer,
        "nav_can_read_runs": can_read_runs(user),
        "nav_can_start_runs": can_start_runs(user),
    }
    context["nav_pending"] = nav_count(user, request)
    return context
