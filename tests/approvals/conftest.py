"""Fixtures of the approval tests."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from approvals.models import ApprovalRequest
from tests.support.runs import waiting_refund


@pytest.fixture
def pending(engineer: User) -> ApprovalRequest:
    """A real pending request (a refund of 250 in the payments queue), started by `engineer`."""
    _, request = waiting_refund(engineer)
    return ApprovalRequest.objects.select_related("queue", "requested_by").get(id=request.id)
