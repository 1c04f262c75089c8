"""Every bad input to the public API gets a clear JSON error and changes nothing.

docs/architecture.md, "API errors": errors are JSON ``{"detail": ...}`` -- 400 malformed, 401 no
credentials, 403 not allowed, 404 not found, 409 conflicting state, 422 invalid values -- checked
in that order, and never a 500 for bad input. Each test checks the status, the message and that
the database is as it was before the request.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from agents.engine import runtime
from agents.engine.models import Run
from approvals.models import ApprovalRequest, Decision
from console.kernel.models import ApiKey
from tests.support.clients import ApiClient, start_refund
from tests.support.runs import order_id
from tests.support.users import make_user

Api = Callable[[User | None], ApiClient]
RUNS = "/api/runs"


# --- helpers -------------------------------------------------------------------------------


def detail_of(response: Any) -> Any:
    """The `detail` of a JSON error body; fails when the body is not JSON {"detail": ...}."""
    assert response["Content-Type"].startswith("application/json"), response.content
    body = json.loads(response.content)
    assert isinstance(body, dict) and set(body) == {"detail"}, body
    assert body["detail"], body
    return body["detail"]


def error_locs(detail: Any) -> list[list[str]]:
    """The `loc` of each field error in a 422 detail."""
    assert isinstance(detail, list), detail
    for error in detail:
        assert error.get("msg"), error
    return [[str(part) for part in error["loc"]] for error in detail]


def refund_input(amount: Any = 250, **overrides: Any) -> dict[str, Any]:
    data = {"order_id": f"T-{uuid.uuid4().hex[:12]}", "amount": amount, "reason": "arrived broken"}
    data.update(overrides)
    return data


def waiting_refund_via_api(client: ApiClient) -> tuple[Run, ApprovalRequest]:
    """Start a refund over 100 as the client's user and run it in-process until it waits."""
    run_id = start_refund(client, 250)
    assert runtime.execute(run_id) == Run.Status.WAITING
    request = ApprovalRequest.objects.get(run_id=run_id)
    assert request.status == ApprovalRequest.Status.PENDING
    return Run.objects.get(id=run_id), request


def decision_url(request: ApprovalRequest) -> str:
    return f"/api/approvals/{request.id}/decision"


def assert_still_pending(request: ApprovalRequest) -> None:
    request.refresh_from_db()
    assert request.status == ApprovalRequest.Status.PENDING
    assert request.decided_by_id is None and request.approved_args is None
    assert not Decision.objects.filter(request=request).exists()
    assert Run.objects.get(id=request.run_id).status == Run.Status.WAITING


# --- starting runs -------------------------------------------------------------------------


def test_unknown_agent_is_404(engineer: User, api: Api) -> None:
    """Starting a run of an agent nobody registered is 404 naming the agent; no run is written."""
    response = api(engineer).post(RUNS, {"agent": "no-such-agent", "input": {}})
    assert response.status_code == 404
    assert "no-such-agent" in detail_of(response)
    assert Run.objects.count() == 0


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (refund_input(-5), "amount"),
        (refund_input(0), "amount"),
        (refund_input("lots"), "amount"),
        ({"amount": 10, "reason": "broken"}, "order_id"),
        (refund_input(10, reason=""), "reason"),
    ],
    ids=["negative-amount", "zero-amount", "amount-not-a-number", "missing-order-id", "empty-reason"],
)
def test_input_failing_the_agent_schema_is_422_naming_the_field(
    engineer: User, api: Api, data: dict[str, Any], field: str
) -> None:
    """Input that fails the agent's input schema is 422 with a field error for that field."""
    response = api(engineer).post(RUNS, {"agent": "refund", "input": data})
    assert response.status_code == 422
    assert ["input", field] in error_locs(detail_of(response))
    assert Run.objects.count() == 0


def test_body_without_agent_is_422(engineer: User, api: Api) -> None:
    """A start request without `agent`, or with a non-object input, is 422 naming the field."""
    client = api(engineer)
    missing = client.post(RUNS, {"input": refund_input()})
    assert missing.status_code == 422
    assert any("agent" in loc for loc in error_locs(detail_of(missing)))
    not_object = client.post(RUNS, {"agent": "refund", "input": "refund please"})
    assert not_object.status_code == 422
    assert any("input" in loc for loc in error_locs(detail_of(not_object)))
    assert Run.objects.count() == 0


@pytest.mark.parametrize("with_credentials", [True, False], ids=["with-key", "without-credentials"])
def test_malformed_json_is_400_before_authentication(
    engineer: User, api: Api, with_credentials: bool
) -> None:
    """A body that is not JSON is 400 saying so, with or without credentials (400 comes before 401)."""
    client = api(engineer if with_credentials else None)
    response = client.post(RUNS, raw='{"agent": "refund", "input": {')
    assert response.status_code == 400
    assert "malformed JSON" in detail_of(response)
    assert Run.objects.count() == 0


def test_reviewer_cannot_start_runs(reviewer: User, api: Api) -> None:
    """A reviewer (no engineer role) starting a run is 403, even for an unknown agent (403 before 404)."""
    client = api(reviewer)
    response = client.post(RUNS, {"agent": "refund", "input": refund_input()})
    assert response.status_code == 403
    assert "start runs" in detail_of(response)
    unknown = client.post(RUNS, {"agent": "no-such-agent", "input": {}})
    assert unknown.status_code == 403
    assert Run.objects.count() == 0


# --- authentication ------------------------------------------------------------------------


def _refused(response: Any) -> None:
    assert response.status_code == 401
    assert "Bearer" in detail_of(response)


def test_no_authorization_is_401(engineer: User, api: Api) -> None:
    """Without credentials reads and writes are 401 with a hint how to authenticate; no run is written."""
    client = api(None)
    _refused(client.get(RUNS))
    _refused(client.post(RUNS, {"agent": "refund", "input": refund_input()}))
    assert Run.objects.count() == 0


@pytest.mark.parametrize(
    "header",
    ["Bearer stw_not-a-real-key", "Bearer ", "Basic ZW5naW5lZXI6cHctZW5naW5lZXI=", "stw_no-scheme"],
    ids=["unknown-key", "empty-key", "basic-auth", "no-scheme"],
)
def test_bad_key_is_401(engineer: User, header: str) -> None:
    """A key that is not one we issued (or another scheme) is 401; no run is written."""
    client = Client()
    _refused(client.get(RUNS, headers={"Authorization": header}))
    response = client.post(
        RUNS,
        json.dumps({"agent": "refund", "input": refund_input()}),
        content_type="application/json",
        headers={"Authorization": header},
    )
    _refused(response)
    assert Run.objects.count() == 0


@pytest.mark.parametrize("state", ["revoked", "expired"])
def test_revoked_or_expired_key_is_401(engineer: User, state: str) -> None:
    """A revoked key and an expired key no longer authenticate, and their use is not recorded."""
    key, raw = ApiKey.issue(engineer, name=state)
    headers = {"Authorization": f"Bearer {raw}"}
    client = Client()
    assert client.get(RUNS, headers=headers).status_code == 200
    if state == "revoked":
        key.revoke()
    else:
        ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=None)
    _refused(client.get(RUNS, headers=headers))
    response = client.post(
        RUNS,
        json.dumps({"agent": "refund", "input": refund_input()}),
        content_type="application/json",
        headers=headers,
    )
    _refused(response)
    assert Run.objects.count() == 0
    assert ApiKey.objects.get(pk=key.pk).last_used_at is None


def test_key_of_inactive_user_is_401(engineer: User, api: Api) -> None:
    """A key whose user was deactivated no longer authenticates."""
    client = api(engineer)
    User.objects.filter(pk=engineer.pk).update(is_active=False)
    _refused(client.get(RUNS))


# --- CSRF and sessions ---------------------------------------------------------------------


def test_bearer_post_needs_no_csrf_token(engineer: User) -> None:
    """A Bearer POST from a program is not held to the browser's CSRF check: 201, a queued run."""
    _, raw = ApiKey.issue(engineer)
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        RUNS,
        json.dumps({"agent": "refund", "input": refund_input(50)}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw}"},
    )
    assert response.status_code == 201, response.content
    run = Run.objects.get(id=response.json()["id"])
    assert run.status == Run.Status.QUEUED and run.created_by == engineer


def test_session_get_works(engineer: User) -> None:
    """A logged-in browser session reads the API without a key."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(engineer)
    response = client.get(RUNS)
    assert response.status_code == 200
    assert response.json()["items"] == []


def test_session_post_without_csrf_token_is_refused(engineer: User) -> None:
    """A session POST without the CSRF token is refused with a JSON 403 and writes nothing."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(engineer)
    response = client.post(
        RUNS, json.dumps({"agent": "refund", "input": refund_input()}), content_type="application/json"
    )
    assert response.status_code == 403
    assert "CSRF" in detail_of(response)
    assert Run.objects.count() == 0


# --- reading runs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("get", "/steps"), ("post", "/cancel")],
    ids=["run", "steps", "cancel"],
)
def test_unknown_run_is_404(engineer: User, api: Api, method: str, suffix: str) -> None:
    """A run id that does not exist is 404 "run not found" for the run, its steps and cancel."""
    client = api(engineer)
    url = f"{RUNS}/{uuid.uuid4()}{suffix}"
    response = client.get(url) if method == "get" else client.post(url)
    assert response.status_code == 404
    assert detail_of(response) == "run not found"
    assert Run.objects.count() == 0


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/runs/not-a-uuid"),
        ("get", "/api/runs/not-a-uuid/steps"),
        ("post", "/api/runs/not-a-uuid/cancel"),
        ("post", "/api/approvals/not-a-uuid/decision"),
    ],
    ids=["run", "steps", "cancel", "decision"],
)
def test_malformed_id_is_422(admin_user: User, api: Api, method: str, url: str) -> None:
    """An id that is not a UUID is a JSON 422 on the path parameter, never an HTML page or a 500."""
    client = api(admin_user)
    response = client.get(url) if method == "get" else client.post(url, {"decision": "approve"})
    assert response.status_code == 422
    locs = error_locs(detail_of(response))
    assert locs and all(loc[0] == "path" for loc in locs)


@pytest.mark.parametrize(
    "cursor",
    ["not-base64!", "bm90IGpzb24=", "WyJub3QgYSBkYXRlIiwgIngiXQ==", "WzFd"],
    ids=["not-base64", "not-json", "not-a-date", "wrong-shape"],
)
def test_invalid_cursor_is_422(engineer: User, api: Api, cursor: str) -> None:
    """A cursor we did not issue is 422 with a field error on `cursor`."""
    response = api(engineer).get(RUNS, cursor=cursor)
    assert response.status_code == 422
    assert ["query", "cursor"] in error_locs(detail_of(response))


@pytest.mark.parametrize(("param", "value"), [("status", "finished"), ("limit", "0"), ("limit", "many")])
def test_invalid_list_filters_are_422(engineer: User, api: Api, param: str, value: str) -> None:
    """An unknown status or an out-of-range limit is 422 naming the parameter."""
    response = api(engineer).get(RUNS, **{param: value})
    assert response.status_code == 422
    assert any(param in loc for loc in error_locs(detail_of(response)))


def test_outsider_cannot_list_runs(outsider: User, api: Api) -> None:
    """A user with no console role may not list runs: 403."""
    response = api(outsider).get(RUNS)
    assert response.status_code == 403
    assert "read runs" in detail_of(response)


def test_outsider_and_reviewer_cannot_cancel(
    engineer: User, reviewer: User, outsider: User, api: Api
) -> None:
    """Only engineers and admins cancel runs: others get 403 and the run stays queued."""
    run_id = start_refund(api(engineer), 50)
    for user in (reviewer, outsider):
        response = api(user).post(f"{RUNS}/{run_id}/cancel")
        assert response.status_code == 403
        assert "cancel" in detail_of(response)
    assert Run.objects.get(id=run_id).status == Run.Status.QUEUED


# --- cancelling ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_cancelling_a_finished_run_is_409(engineer: User, api: Api) -> None:
    """A run that has finished cannot be cancelled: 409 naming its status; it stays succeeded."""
    client = api(engineer)
    run_id = start_refund(client, 50)
    assert runtime.execute(run_id) == Run.Status.SUCCEEDED
    before = Run.objects.get(id=run_id)
    response = client.post(f"{RUNS}/{run_id}/cancel")
    assert response.status_code == 409
    assert "succeeded" in detail_of(response)
    after = Run.objects.get(id=run_id)
    assert after.status == Run.Status.SUCCEEDED
    assert after.finished_at == before.finished_at


# --- decisions -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_decision_without_permission_is_403(engineer: User, outsider: User, api: Api) -> None:
    """An engineer or an outsider (no reviewer role) deciding is 403, and so is a reviewer who does
    not review this queue (the detail names the queue); the request stays pending."""
    _, request = waiting_refund_via_api(api(engineer))
    other_engineer = make_user("engineer2", "engineers")
    for user in (engineer, other_engineer, outsider):
        for decision in ("approve", "reject", "nonsense"):
            response = api(user).post(decision_url(request), {"decision": decision})
            assert response.status_code == 403, (user, decision)
            assert "review approvals" in detail_of(response)
    # A reviewer, but of other queues only.
    from django.contrib.auth.models import Group

    from approvals.models import Queue

    elsewhere = Group.objects.create(name="legal-reviewers")
    Queue.objects.create(name="legal").reviewer_groups.add(elsewhere)
    legal = make_user("legal", "legal-reviewers")
    legal.groups.add(Group.objects.get(name="reviewers"))
    Queue.objects.get(name="payments").reviewer_groups.remove(Group.objects.get(name="reviewers"))
    response = api(legal).post(decision_url(request), {"decision": "approve"})
    assert response.status_code == 403 and "payments" in detail_of(response)
    assert_still_pending(request)


@pytest.mark.django_db(transaction=True)
def test_requester_cannot_approve_own_run(api: Api, roles: None) -> None:
    """Four-eyes: a user who is engineer and reviewer and started the run may not decide its action."""
    both = make_user("both", "engineers", "reviewers")
    client = api(both)
    _, request = waiting_refund_via_api(client)
    assert request.requested_by == both
    for body in ({"decision": "approve"}, {"decision": "reject", "comment": "no"}):
        response = client.post(decision_url(request), body)
        assert response.status_code == 403
        assert "four-eyes" in detail_of(response)
    assert_still_pending(request)


@pytest.mark.django_db(transaction=True)
def test_admin_cannot_approve_own_run(admin_user: User, reviewer: User, api: Api) -> None:
    """Four-eyes holds for admins too: the admin who started the run gets 403; a reviewer may decide."""
    client = api(admin_user)
    _, request = waiting_refund_via_api(client)
    response = client.post(decision_url(request), {"decision": "approve"})
    assert response.status_code == 403
    assert "four-eyes" in detail_of(response)
    assert_still_pending(request)
    assert api(reviewer).post(decision_url(request), {"decision": "approve"}).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_decision_on_decided_request_is_409_naming_the_decider(
    engineer: User, reviewer: User, api: Api
) -> None:
    """A decision on a request already decided is 409 saying by whom; the first outcome stands."""
    _, request = waiting_refund_via_api(api(engineer))
    first = api(reviewer).post(decision_url(request), {"decision": "approve", "comment": "ok"})
    assert first.status_code == 200, first.content
    assert first.json()["status"] == "approved"
    second_reviewer = make_user("alice", "reviewers")
    for client, body in (
        (api(second_reviewer), {"decision": "reject", "comment": "too much"}),
        (api(second_reviewer), {"decision": "edit", "args": {"order_id": "X", "amount": 1}}),
        (api(reviewer), {"decision": "reject"}),
    ):
        response = client.post(decision_url(request), body)
        assert response.status_code == 409
        detail = detail_of(response)
        assert "already approved" in detail and "by reviewer" in detail
    request.refresh_from_db()
    assert request.status == ApprovalRequest.Status.APPROVED
    assert request.decided_by == reviewer
    assert list(Decision.objects.filter(request=request).values_list("user__username", "decision")) == [
        ("reviewer", "approve")
    ]


@pytest.mark.django_db(transaction=True)
def test_edit_with_args_violating_schema_is_422(engineer: User, reviewer: User, api: Api) -> None:
    """An edit whose args break the action's args_schema is 422 naming the field; nothing is decided."""
    _, request = waiting_refund_via_api(api(engineer))
    client = api(reviewer)
    order_id = request.proposed_args["order_id"]
    response = client.post(
        decision_url(request), {"decision": "edit", "args": {"order_id": order_id, "amount": "lots"}}
    )
    assert response.status_code == 422
    assert ["body", "args", "amount"] in error_locs(detail_of(response))
    missing = client.post(decision_url(request), {"decision": "edit", "args": {"amount": 10}})
    assert missing.status_code == 422
    error_locs(detail_of(missing))
    no_args = client.post(decision_url(request), {"decision": "edit"})
    assert no_args.status_code == 422
    assert ["body", "args"] in error_locs(detail_of(no_args))
    assert_still_pending(request)


@pytest.mark.django_db(transaction=True)
def test_unknown_decision_value_is_422(engineer: User, reviewer: User, api: Api) -> None:
    """A decision other than approve, reject or edit is 422 on `decision`; the request stays pending."""
    _, request = waiting_refund_via_api(api(engineer))
    client = api(reviewer)
    response = client.post(decision_url(request), {"decision": "maybe"})
    assert response.status_code == 422
    assert ["body", "decision"] in error_locs(detail_of(response))
    missing = client.post(decision_url(request), {"comment": "hm"})
    assert missing.status_code == 422
    assert any("decision" in loc for loc in error_locs(detail_of(missing)))
    assert_still_pending(request)


@pytest.mark.django_db(transaction=True)
def test_malformed_decision_body_is_400(engineer: User, reviewer: User, api: Api) -> None:
    """A decision whose body is not JSON is 400, with or without credentials; nothing is decided."""
    _, request = waiting_refund_via_api(api(engineer))
    for client in (api(reviewer), api(None)):
        response = client.post(decision_url(request), raw="decision=approve")
        assert response.status_code == 400
        assert "malformed JSON" in detail_of(response)
    assert_still_pending(request)


def test_decision_on_unknown_request_is_404(reviewer: User, api: Api) -> None:
    """Deciding an approval request that does not exist is 404."""
    response = api(reviewer).post(f"/api/approvals/{uuid.uuid4()}/decision", {"decision": "approve"})
    assert response.status_code == 404
    assert "not found" in detail_of(response)
    assert not Decision.objects.exists()


# --- checked in order: who you are and what you may do before what you sent -----------------


def test_permission_is_checked_before_run_body_values(reviewer: User, api: Api) -> None:
    """A reviewer may not start runs: 403 even when the body also has invalid values (403 before 422)."""
    client = api(reviewer)
    for body in ({}, {"agent": 5, "input": "x"}):
        response = client.post(RUNS, body)
        assert response.status_code == 403, response.content
        assert "start runs" in detail_of(response)
    assert Run.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_permission_is_checked_before_decision_body_values(engineer: User, api: Api) -> None:
    """A non-reviewer's decision is 403 even when the body has invalid values (403 before 422)."""
    _, request = waiting_refund_via_api(api(engineer))
    client = api(engineer)
    for body in (
        {"decision": "edit", "args": "not an object"},
        {"decision": "reject", "comment": "x" * 6000},
    ):
        response = client.post(decision_url(request), body)
        assert response.status_code == 403, response.content
        assert "review approvals" in detail_of(response)
    assert_still_pending(request)


# --- never a 500 for bad input -------------------------------------------------------------


def program(user: User | None) -> Client:
    """A client that returns a server error as a response, so a 500 is seen as a status."""
    return Client(raise_request_exception=False, headers=api_headers(user))


def api_headers(user: User | None) -> dict[str, str]:
    if user is None:
        return {}
    _, raw = ApiKey.issue(user)
    return {"Authorization": f"Bearer {raw}"}


def assert_client_error(response: Any) -> None:
    assert response.status_code in (400, 422), (response.status_code, response.content[:200])
    detail_of(response)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "raw",
    [
        '{"agent": "refund", "input": {"order_id": "%s", "amount": 5, "reason": "x"}, "metadata": {"k": NaN}}',
        '{"agent": "refund", "input": {"order_id": "%s", "amount": 5, "reason": "x"}, "metadata": {"k": Infinity}}',
        '{"agent": "refund", "input": {"order_id": "%s", "amount": 5, "reason": "nul \\u0000 byte"}}',
        '{"agent": "refund", "input": {"order_id": "%s", "amount": 5, "reason": "x"}, "metadata": {"k": "\\u0000"}}',
        '{"agent": "refund", "input": {"order_id": "%s", "amount": 5, "reason": "x"}, "metadata": {"k": "\\ud800"}}',
        '{"agent": "refund", "input": {"order_id": "%s", "amount": 5, "reason": "x"}, "metadata": '
        + "[" * 100_000
        + "]" * 100_000
        + "}",
    ],
    ids=[
        "metadata-nan",
        "metadata-infinity",
        "nul-in-input",
        "nul-in-metadata",
        "lone-surrogate",
        "deeply-nested",
    ],
)
def test_run_body_postgres_or_python_cannot_store_is_a_client_error(engineer: User, raw: str) -> None:
    """Values JSON parsers accept but the database cannot store (NaN, NUL, lone surrogates) or
    absurd nesting are a 400/422 with a JSON detail, never a 500; no run is written."""
    response = program(engineer).post(RUNS, raw % order_id("T"), content_type="application/json")
    assert_client_error(response)
    assert Run.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_search_with_nul_byte_is_a_client_error(engineer: User) -> None:
    """Searching runs for text with a NUL byte is a 400/422, never a 500."""
    response = program(engineer).get(RUNS, {"q": "a\x00b"})
    assert_client_error(response)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "raw",
    [
        '{"decision": "reject", "comment": "nul \\u0000 byte"}',
        '{"decision": "reject", "reason_code": "\\u0000"}',
        '{"decision": "edit", "args": {"order_id": "%s", "amount": NaN}}',
        '{"decision": "edit", "args": {"order_id": "%s", "amount": Infinity}}',
    ],
    ids=["nul-in-comment", "nul-in-reason-code", "edit-nan", "edit-infinity"],
)
def test_decision_body_the_database_cannot_store_is_a_client_error(
    engineer: User, reviewer: User, api: Api, raw: str
) -> None:
    """A decision with a NUL byte in its text or NaN/Infinity in edited args is a 400/422, not a 500;
    the request stays pending."""
    _, request = waiting_refund_via_api(api(engineer))
    body = raw % request.proposed_args["order_id"] if "%s" in raw else raw
    response = program(reviewer).post(decision_url(request), body, content_type="application/json")
    assert_client_error(response)
    assert_still_pending(request)


@pytest.mark.parametrize(
    ("method", "url"), [("get", "/api/no-such-endpoint"), ("put", RUNS)], ids=["404", "405"]
)
def test_unknown_endpoint_or_method_is_json(engineer: User, method: str, url: str) -> None:
    """An unknown path under /api/ or a method an endpoint does not take answers JSON {"detail": ...}."""
    client = program(engineer)
    response = client.get(url) if method == "get" else client.put(url, "{}", content_type="application/json")
    assert response.status_code in (404, 405)
    detail_of(response)


# --- bodies over the limit, server errors: JSON too ----------------------------------------


def big_json_body(megabytes: int) -> str:
    """A well-formed run body of about `megabytes` MB (over DATA_UPLOAD_MAX_MEMORY_SIZE, 2.5 MB)."""
    padding = "x" * (megabytes * 1024 * 1024)
    return json.dumps({"agent": "refund", "input": {"order_id": order_id(), "amount": 5, "reason": padding}})


@pytest.mark.django_db
@pytest.mark.parametrize("megabytes", [3, 10])
def test_a_json_body_over_the_upload_limit_is_a_json_413(engineer: User, megabytes: int) -> None:
    """A 3 MB or 10 MB body to POST /api/runs was Django's HTML 400 (RequestDataTooBig)."""
    response = program(engineer).post(RUNS, big_json_body(megabytes), content_type="application/json")
    assert response.status_code == 413, (response.status_code, response.content[:200])
    assert "too large" in detail_of(response)
    assert not Run.objects.exists()


@pytest.mark.django_db
def test_a_body_a_view_reads_over_the_upload_limit_is_a_json_413(admin_user: User) -> None:
    """Not JSON, so the middleware leaves it to the view: the trace import reads the body itself."""
    response = program(admin_user).post(
        "/api/runs/import", b"x" * (3 * 1024 * 1024), content_type="application/octet-stream"
    )
    assert response.status_code == 413, (response.status_code, response.content[:200])
    assert "too large" in detail_of(response)
    assert not Run.objects.exists()


@pytest.mark.django_db
@pytest.mark.urls("tests.console.api_errors_urls")
def test_a_view_that_raises_under_api_is_a_json_500(engineer: User, caplog: pytest.LogCaptureFixture) -> None:
    """Django's HTML 500 page becomes JSON; the error is still logged with its traceback."""
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = program(engineer).get("/api/test-only/raises")
    assert response.status_code == 500
    assert detail_of(response) == "internal server error"
    assert "a bug in a view" not in response.content.decode()
    (logged,) = [r for r in caplog.records if r.name == "django.request" and r.levelno == logging.ERROR]
    assert logged.exc_info is not None and "a bug in a view" in str(logged.exc_info[1])


@pytest.mark.django_db
@pytest.mark.urls("tests.console.api_errors_urls")
def test_an_html_503_under_api_is_a_json_503(engineer: User) -> None:
    response = program(engineer).get("/api/test-only/unavailable")
    assert response.status_code == 503
    assert detail_of(response) == "service unavailable"
