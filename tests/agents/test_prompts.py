"""Prompt versions end to end on the real database: immutability, pinning per run, reviewed
promotion and rollback, A/B splits, bad input, replay with another version, webhooks."""

from __future__ import annotations

import json
import math
import random
import uuid
from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from agents.engine import runtime
from agents.engine.models import Run
from agents.engine.services import start_run
from agents.prompt_admin import services as prompt_services
from agents.prompts import _pin_late, pins_for_new_run, resolve
from agents.prompts.models import Prompt, PromptLabel, PromptLabelMove, PromptVersion, RunPromptVersion
from approvals import webhooks
from approvals.models import ApprovalRequest, Webhook, WebhookDelivery
from approvals.services import decide
from console.kernel.errors import Conflict, Forbidden, Invalid
from console.kernel.models import AuditEvent
from tests.support.receivers import HttpReceiver
from traces.inspection.replay import replay
from traces.recording.models import Span

PROMPT = "refund_system"
REFUND = {"order_id": "A-1", "amount": 50, "reason": "broken"}
V1_SIGN_OFF = "Steward Shop customer care"


def template_signing(sign_off: str) -> list[dict[str, Any]]:
    """A refund system prompt whose `Sign-off:` line the scripted refund model appends to its answer."""
    return [
        {"role": "system", "content": f"You are the refund assistant of {{shop_name}}. Look the order up first.\nSign-off: {sign_off}"},
        {"role": "placeholder", "name": "history"},
    ]


def production() -> PromptVersion:
    return PromptLabel.objects.select_related("version").get(prompt__name=PROMPT, name="production").version


def new_version(user: Any, sign_off: str, base: int | None = None) -> PromptVersion:
    return prompt_services.save_version(user, PROMPT, template=template_signing(sign_off), message=sign_off, base_number=base)


def promote(requester: Any, approver: Any, number: int, split: Any = None) -> ApprovalRequest:
    """Move the protected `production` label the only way there is: requested, then approved by another admin."""
    state, request = prompt_services.move_label(requester, PROMPT, "production", number, split=split)
    assert state == "pending" and isinstance(request, ApprovalRequest)
    decided = decide(request.id, approver, "approve")
    assert decided.status == ApprovalRequest.Status.APPROVED
    return decided


def answer_of(run: Run) -> str:
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.error
    return str(run.output["answer"])


def model_span_versions(run: Run) -> set[int | None]:
    return set(
        Span.objects.filter(run=run, kind=Span.Kind.MODEL).values_list("prompt_version__number", flat=True)
    )


# --- immutability -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_saved_version_cannot_be_saved_again() -> None:
    """save() on an existing version raises; nothing about it changes."""
    version = PromptVersion.objects.get(prompt__name=PROMPT, number=1)
    version.message = "rewritten history"
    with pytest.raises(ValueError, match="immutable"):
        version.save()
    assert PromptVersion.objects.get(pk=version.pk).message == "Default from the agent's code"


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgres_refuses_a_raw_update_of_a_version() -> None:
    """The trigger refuses an UPDATE that bypasses the model, even in raw SQL."""
    assert connection.vendor == "postgresql"
    version = PromptVersion.objects.get(prompt__name=PROMPT, number=1)
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE agents_promptversion SET template = '[]'::jsonb WHERE id = %s", [version.pk])
    assert PromptVersion.objects.get(pk=version.pk).template == version.template


# --- pinning per run --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_run_pins_the_production_version_and_its_model_spans_name_it(engineer: Any) -> None:
    """The run records the version behind `production` when it starts, a join row for it, and
    every model call it makes names that version."""
    v1 = production()
    run = start_run("refund", REFUND, engineer)
    assert run.prompt_versions == {PROMPT: {"version": v1.number, "id": v1.pk, "label": "production"}}
    assert RunPromptVersion.objects.filter(run=run, version=v1, label="production").exists()
    assert runtime.execute(run.id) == "succeeded"
    assert model_span_versions(run) == {v1.number}
    assert Span.objects.filter(run=run, kind=Span.Kind.MODEL).count() == 3
    assert answer_of(run).endswith(V1_SIGN_OFF)


@pytest.mark.django_db(transaction=True)
def test_a_started_run_keeps_its_version_when_production_moves(engineer: Any, admin_user: Any, second_admin: Any) -> None:
    """Moving `production` between a run's start and its execution does not change that run;
    runs started afterwards use the new version."""
    before = start_run("refund", REFUND, engineer)
    v2 = new_version(admin_user, "Cheers, the v2 team", base=1)
    promote(admin_user, second_admin, v2.number)
    assert production() == v2
    assert runtime.execute(before.id) == "succeeded"
    assert answer_of(before).endswith(V1_SIGN_OFF)
    assert model_span_versions(before) == {1}

    after = start_run("refund", {**REFUND, "order_id": "A-2"}, engineer)
    assert after.prompt_versions[PROMPT]["version"] == v2.number
    assert runtime.execute(after.id) == "succeeded"
    assert answer_of(after).endswith("Cheers, the v2 team")
    assert model_span_versions(after) == {v2.number}


@pytest.mark.django_db(transaction=True)
def test_a_prompt_the_agent_did_not_declare_is_pinned_at_its_first_use(engineer: Any, admin_user: Any) -> None:
    """A prompt first fetched while the run executes joins the run's pins, beside the ones pinned
    at its start, with a join row; a later version does not replace it for that run."""
    run = start_run("refund", REFUND, engineer)
    late_v1 = prompt_services.create_prompt(admin_user, "late_note", template=template_signing("late v1"), message="v1")
    _pin_late({"steward_run_id": run.id}, "late_note", late_v1, "production")
    run.refresh_from_db()
    assert run.prompt_versions[PROMPT]["version"] == production().number
    assert run.prompt_versions["late_note"] == {"version": 1, "id": late_v1.pk, "label": "production"}
    assert RunPromptVersion.objects.filter(run=run, version=late_v1, label="production").exists()

    late_v2 = prompt_services.save_version(admin_user, "late_note", template=template_signing("late v2"), message="v2", base_number=1)
    _pin_late({"steward_run_id": run.id}, "late_note", late_v2, "production")
    run.refresh_from_db()
    assert run.prompt_versions["late_note"]["id"] == late_v1.pk


# --- promotion, rollback, four-eyes -----------------------------------------------------------


@pytest.mark.django_db
def test_rolling_back_is_a_move_back_and_the_history_lists_both(admin_user: Any, second_admin: Any) -> None:
    """Promote v2, then move production back to v1: the label points at v1 again and the history
    has both moves, newest first."""
    v2 = new_version(admin_user, "v2 sign-off")
    promote(admin_user, second_admin, v2.number)
    promote(second_admin, admin_user, 1)
    assert production().number == 1
    assert resolve(PROMPT).number == 1
    moves = list(PromptLabelMove.objects.filter(prompt__name=PROMPT, label="production").exclude(from_number=None))
    assert [(m.from_number, m.to_number) for m in moves] == [(2, 1), (1, 2)]
    assert [m.approved_by for m in moves] == [admin_user, second_admin]


@pytest.mark.django_db
def test_four_eyes_promotion_through_the_services(admin_user: Any, second_admin: Any) -> None:
    """A move of protected `production` waits for another admin: the requester may not decide
    it, a second request meanwhile is refused, a rejection leaves the label, an approval moves it
    with the approver and the request on the history row; every step is audited."""
    v2 = new_version(admin_user, "reviewed sign-off")
    state, request = prompt_services.move_label(admin_user, PROMPT, "production", v2.number, note="try v2")
    assert state == "pending" and isinstance(request, ApprovalRequest)
    assert request.action == prompt_services.PROMOTE_ACTION and request.run_id is None
    assert request.proposed_args["version"] == v2.number and request.proposed_args["from_version"] == 1
    assert production().number == 1, "nothing moves before the review"

    with pytest.raises(Forbidden, match="four-eyes"):
        decide(request.id, admin_user, "approve")
    with pytest.raises(Conflict, match="already waits for review"):
        prompt_services.move_label(second_admin, PROMPT, "production", v2.number)
    rejected = decide(request.id, second_admin, "reject", comment="not yet")
    assert rejected.status == ApprovalRequest.Status.REJECTED
    assert production().number == 1
    assert not PromptLabelMove.objects.filter(approval_request=request).exists()

    state, again = prompt_services.move_label(admin_user, PROMPT, "production", v2.number)
    assert state == "pending"
    decide(again.id, second_admin, "approve")
    assert production() == v2
    move = PromptLabelMove.objects.get(approval_request=again)
    assert (move.from_number, move.to_number) == (1, v2.number)
    assert move.moved_by == admin_user and move.approved_by == second_admin

    prompt = Prompt.objects.get(name=PROMPT)
    actions = list(
        AuditEvent.objects.filter(object_type="agents.prompt", object_id=str(prompt.pk)).values_list("action", flat=True)
    )
    for action in ("prompt.version_created", "prompt.promotion_requested", "prompt.promotion_decided", "prompt.label_moved"):
        assert action in actions, action
    assert actions.count("prompt.promotion_decided") == 2, "the rejection and the approval"


@pytest.mark.django_db
def test_an_unprotected_label_moves_at_once(admin_user: Any) -> None:
    """A label nobody protected (here `staging`) moves without review."""
    v2 = new_version(admin_user, "staging sign-off")
    state, move = prompt_services.move_label(admin_user, PROMPT, "staging", v2.number)
    assert state == "moved" and isinstance(move, PromptLabelMove)
    assert resolve(PROMPT, "staging") == v2 and production().number == 1


# --- A/B splits -------------------------------------------------------------------------------

THREADS = 2000
V2_WEIGHT = 0.2


@pytest.mark.django_db
def test_a_split_label_shares_threads_by_weight_and_each_thread_sticks(engineer: Any, admin_user: Any, second_admin: Any) -> None:
    """80/20 between v1 and v2: over 2,000 threads v2's share is 20 % within three binomial
    standard deviations (sqrt(0.2 * 0.8 / 2000) ≈ 0.009, so ± 0.027; a fair split lands outside
    with probability 0.3 %, and the seeded threads make it deterministic); a thread always gets
    the same version; and a thread that has run keeps its version after the weights change."""
    v2 = new_version(admin_user, "B side")
    promote(admin_user, second_admin, 1, split=[{"version": 1, "weight": 80}, {"version": v2.number, "weight": 20}])

    rng = random.Random(1234)
    threads = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(THREADS)]
    picks = {thread: resolve(PROMPT, thread_id=thread).number for thread in threads}
    share = sum(1 for n in picks.values() if n == v2.number) / THREADS
    tolerance = 3 * math.sqrt(V2_WEIGHT * (1 - V2_WEIGHT) / THREADS)
    assert abs(share - V2_WEIGHT) <= tolerance, (share, tolerance)
    assert set(picks.values()) == {1, v2.number}
    assert all(resolve(PROMPT, thread_id=t).number == picks[t] for t in threads[:200]), "sticky per thread"

    # A run pins what its thread got; then the weights swing so far that every new thread gets
    # the other version, yet the next run on the same thread keeps the one it had.
    run = start_run("refund", REFUND, engineer)
    thread = run.thread_id
    pinned = run.prompt_versions[PROMPT]["version"]
    other = 1 if pinned == v2.number else v2.number
    swung = [{"version": other, "weight": 1_000_000}, {"version": pinned, "weight": 0.000001}]
    promote(admin_user, second_admin, other, split=swung)
    assert {resolve(PROMPT, thread_id=t).number for t in threads[:100]} == {other}, "new threads follow the new weights"
    assert pins_for_new_run({PROMPT: "production"}, thread)[PROMPT]["version"] == pinned
    assert resolve(PROMPT, thread_id=thread).number == pinned


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_bad_templates_are_invalid_and_nothing_is_saved(admin_user: Any) -> None:
    """An undefined variable and a syntax error are 422s naming the problem; no version is saved."""
    count = PromptVersion.objects.filter(prompt__name=PROMPT).count()
    undefined = [{"role": "system", "content": "Hello {customer} from {shop_name}"}, {"role": "placeholder", "name": "history"}]
    with pytest.raises(Invalid) as exc:
        prompt_services.save_version(
            admin_user, PROMPT, template=undefined, variables={"shop_name": "string", "history": "messages"}
        )
    assert any("{customer}" in e["msg"] and "not defined" in e["msg"] for e in exc.value.detail)
    with pytest.raises(Invalid) as exc:
        prompt_services.save_version(admin_user, PROMPT, template=[{"role": "system", "content": "Hello {shop_name"}])
    assert any("syntax" in e["msg"] for e in exc.value.detail)
    assert PromptVersion.objects.filter(prompt__name=PROMPT).count() == count


@pytest.mark.django_db
def test_a_label_cannot_point_at_a_missing_version(admin_user: Any) -> None:
    with pytest.raises(Invalid) as exc:
        prompt_services.move_label(admin_user, PROMPT, "staging", 99)
    assert "no version 99" in json.dumps(exc.value.detail)
    with pytest.raises(Invalid):
        prompt_services.move_label(admin_user, PROMPT, "staging", 1, split=[{"version": 1, "weight": 50}, {"version": 42, "weight": 50}])
    assert not PromptLabel.objects.filter(prompt__name=PROMPT, name="staging").exists()


@pytest.mark.django_db
def test_two_admins_saving_from_the_same_base(admin_user: Any, second_admin: Any) -> None:
    """Both start from v1; the first save wins, the second is a Conflict with the latest version
    and the diff from v1 to it, and saves nothing; saving again on top of the latest works."""
    first = new_version(admin_user, "first writer", base=1)
    with pytest.raises(Conflict) as exc:
        new_version(second_admin, "second writer", base=1)
    detail = exc.value.detail
    assert detail["latest"]["number"] == first.number and detail["latest"]["author"] == "admin"
    assert any(row["op"] != "equal" and "first writer" in str(row["right"]) for row in detail["diff"])
    assert "admin saved version 2" in detail["message"]
    assert PromptVersion.objects.filter(prompt__name=PROMPT).count() == 2
    merged = new_version(second_admin, "second writer", base=first.number)
    assert merged.number == 3 and merged.base_number == first.number


# --- replay with another version --------------------------------------------------------------


@pytest.fixture
def finished_refund(engineer: Any) -> Run:
    run = start_run("refund", REFUND, engineer)
    assert runtime.execute(run.id) == "succeeded"
    run.refresh_from_db()
    return run


def first_prompt_call_step(run: Run) -> int:
    return int(
        Span.objects.filter(run=run, kind=Span.Kind.MODEL, prompt_version__prompt__name=PROMPT)
        .order_by("seq").values_list("step", flat=True)[0]
    )


@pytest.mark.django_db(transaction=True)
def test_a_replay_with_another_prompt_version_runs_mixed_and_answers_with_it(
    finished_refund: Run, engineer: Any, admin_user: Any
) -> None:
    """Recorded up to the first model call that renders the changed prompt, live from there:
    the answer carries the new version's sign-off, and its model spans name that version."""
    v2 = new_version(admin_user, "Replayed with v2")
    copy = replay(finished_refund, engineer, prompt_versions={PROMPT: v2.number})
    settings = copy.metadata["replay"]
    assert settings["mode"] == "mixed" and settings["live_from_step"] == first_prompt_call_step(finished_refund)
    assert copy.prompt_versions[PROMPT]["version"] == v2.number
    assert RunPromptVersion.objects.filter(run=copy, version=v2).exists()
    assert runtime.execute(copy.id) == "succeeded"
    assert answer_of(copy).endswith("Replayed with v2")
    assert model_span_versions(copy) == {v2.number}
    assert answer_of(finished_refund).endswith(V1_SIGN_OFF), "the original is never written"


@pytest.mark.django_db(transaction=True)
def test_the_replay_command_takes_a_prompt_version(finished_refund: Run, admin_user: Any) -> None:
    v2 = new_version(admin_user, "From the shell")
    out = StringIO()
    call_command("replay", str(finished_refund.id), "--prompt", f"{PROMPT}={v2.number}", "--wait", "--user", "engineer", stdout=out)
    copy = Run.objects.get(parent_run=finished_refund)
    assert f"run {copy.id} succeeded" in out.getvalue()
    assert answer_of(copy).endswith("From the shell")
    assert copy.metadata["replay"]["prompt_versions"] == {PROMPT: v2.number}


@pytest.mark.django_db(transaction=True)
def test_a_replay_with_another_model_names_it_on_its_model_spans(finished_refund: Run, engineer: Any) -> None:
    copy = replay(finished_refund, engineer, model="scripted-other")
    assert copy.metadata["replay"]["mode"] == "mixed"
    assert runtime.execute(copy.id) == "succeeded"
    names = set(Span.objects.filter(run=copy, kind=Span.Kind.MODEL).values_list("name", flat=True))
    assert names == {"scripted-other"}
    assert set(Span.objects.filter(run=finished_refund, kind=Span.Kind.MODEL).values_list("name", flat=True)) == {"scripted-demo"}


# --- webhooks ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("outbound_allows_loopback")
def test_saving_a_version_sends_a_signed_webhook(admin_user: Any, receiver: Callable[..., HttpReceiver]) -> None:
    """A webhook tied to no queue and listening to every event gets a delivery row for the new
    version; delivering it posts the body with its HMAC signature."""
    hook_receiver = receiver()
    url, received = hook_receiver.url, hook_receiver.received
    hook = Webhook.objects.create(name="prompts", url=url, queue=None, events=[])
    version = new_version(admin_user, "announced")
    delivery = WebhookDelivery.objects.get(webhook=hook, event="prompt.version_created")
    assert delivery.payload["prompt"]["prompt"] == PROMPT and delivery.payload["prompt"]["version"] == version.number
    webhooks.deliver(delivery.id)
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    (sent,) = received
    assert sent["headers"]["X-Steward-Signature"] == webhooks.signature(hook.secret, sent["body"])
    assert json.loads(sent["body"])["event"] == "prompt.version_created"


def test_a_promotion_is_approved_or_rejected_never_edited_or_answered(admin_user: Any, second_admin: Any) -> None:
    version = new_version(admin_user, "Edits are not decisions")
    status, request = prompt_services.move_label(admin_user, "refund_system", "production", version.number)
    assert status == "pending"
    for decision in ("edit", "respond"):
        with pytest.raises(Invalid, match="approve or reject"):
            decide(request.id, second_admin, decision, args={"version": 1}, comment="why not v1?")
    request.refresh_from_db()
    assert request.status == ApprovalRequest.Status.PENDING
    assert PromptLabel.objects.get(prompt__name="refund_system", name="production").version.number == 1
