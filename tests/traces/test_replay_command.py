"""`manage.py replay`: queue a replay, run it with --wait, print its status and the diff."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from agents.engine.models import Run
from tests.support.runs import executed_run

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_recorded_replay_of_a_failed_run_fails_the_same_way(engineer: Any) -> None:
    original = executed_run("stock_check", {"sku": "BROKEN-7"}, engineer)
    assert original.status == "failed"
    out = StringIO()
    call_command("replay", str(original.id), mode="recorded", wait=True, user="engineer", stdout=out)
    text = out.getvalue()
    copy = Run.objects.get(parent_run=original)
    assert f"replay {copy.id} queued" in text
    assert f"run {copy.id} failed" in text
    assert "node" in text and " error" in text, "progress lines per node span"
    assert text.strip().endswith("no divergence")
    assert copy.created_by == engineer and copy.metadata["replay"]["mode"] == "recorded"


def test_without_wait_it_only_queues(engineer: Any) -> None:
    original = executed_run("known", {"topic": "tides"}, engineer)
    out = StringIO()
    call_command("replay", str(original.id), "--from-step", "2", stdout=out)
    copy = Run.objects.get(parent_run=original)
    assert copy.status == "queued" and out.getvalue().strip() == f"replay {copy.id} queued (of run {original.id})"


def test_a_state_patch_replay_reports_the_first_divergence(engineer: Any) -> None:
    original = executed_run("known", {"topic": "tides"}, engineer)
    out = StringIO()
    patch = '{"plan": "[{\\"name\\": \\"measure\\", \\"args\\": {\\"topic\\": \\"x\\"}, \\"id\\": \\"c\\", \\"type\\": \\"tool_call\\"}]"}'
    call_command("replay", str(original.id), "--from-step", "2", "--mode", "live", "--state-patch", patch, "--wait", stdout=out)
    text = out.getvalue()
    assert "succeeded" in text and "first divergence at row" in text


def test_bad_input_is_a_command_error_with_the_services_message(engineer: Any) -> None:
    original = executed_run("known", {"topic": "tides"}, engineer)
    with pytest.raises(CommandError, match="step 42 does not exist"):
        call_command("replay", str(original.id), from_step=42, stdout=StringIO())
    with pytest.raises(CommandError, match="mode must be one of"):
        call_command("replay", str(original.id), mode="sideways", stdout=StringIO())
    with pytest.raises(CommandError, match="not valid JSON"):
        call_command("replay", str(original.id), from_step=2, state_patch="{", stdout=StringIO())
    with pytest.raises(CommandError, match="there is no prompt named 'plan'"):
        call_command("replay", str(original.id), "--prompt", "plan=2", stdout=StringIO())
    with pytest.raises(CommandError, match="use NAME=VERSION"):
        call_command("replay", str(original.id), "--prompt", "plan", stdout=StringIO())
    with pytest.raises(CommandError, match="no run"):
        call_command("replay", "00000000-0000-0000-0000-000000000000", stdout=StringIO())
    assert not Run.objects.filter(parent_run=original).exists()
