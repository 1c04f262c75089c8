"""The console's HTML pages: who may see each one, what the forms do, and that agent text stays text.

Every page is checked three ways: 200 for a role that may use it, 403 for a role that may not,
and a redirect to the login page for an anonymous visitor. Runs and approval requests are real
rows made by the real services and the real runtime (no worker: `runtime.execute` runs inline).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User

from agents.engine import runtime
from agents.engine.models import Run
from agents.engine.services import start_run
from approvals.models import ApprovalRequest
from console.kernel.models import ApiKey, AuditEvent
from tests.support.clients import ClientFor
from tests.support.runs import order_id, queued_refund, waiting_refund
from tests.support.users import make_user

pytestmark = pytest.mark.django_db

XSS_SCRIPT = "<script>alert(1)</script>"
XSS_HTMX = '<div hx-get="/evil" hx-trigger="load">x</div>'


def assert_login_redirect(response: Any, path: str) -> None:
    """The response sends an anonymous visitor to the login page, coming back to `path`."""
    assert response.status_code == 302, response.status_code
    assert response["Location"] == f"/login/?next={path}"


# --- /runs/ ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["engineer", "reviewer", "admin_user"])
def test_run_list_is_200_for_roles_that_read_runs(role: str, request: pytest.FixtureRequest, client_for: ClientFor) -> None:
    """Engineers, reviewers and admins see the run list, including an existing run."""
    user: User = request.getfixturevalue(role)
    run = queued_refund(make_user("starter", "engineers"))
    response = client_for(user).get("/runs/")
    assert response.status_code == 200
    assert f'href="/runs/{run.id}/"'.encode() in response.content


def test_run_list_is_403_for_a_user_without_a_role(outsider: User, client_for: ClientFor) -> None:
    """A logged-in user with no console role is refused the run list."""
    assert client_for(outsider).get("/runs/").status_code == 403


def test_run_list_redirects_anonymous_to_login(db: Any, client_for: ClientFor) -> None:
    """An anonymous visitor is sent to the login page, with a way back to the run list."""
    assert_login_redirect(client_for(None).get("/runs/"), "/runs/")


# --- /runs/<id>/ -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["engineer", "reviewer", "admin_user"])
def test_run_detail_is_200_for_roles_that_read_runs(role: str, request: pytest.FixtureRequest, client_for: ClientFor) -> None:
    """Engineers, reviewers and admins see a run's page, with its header and id."""
    user: User = request.getfixturevalue(role)
    run = queued_refund(make_user("starter", "engineers"))
    response = client_for(user).get(f"/runs/{run.id}/")
    assert response.status_code == 200
    assert b'id="run-header"' in response.content
    assert str(run.id).encode() in response.content


def test_run_detail_is_403_for_a_user_without_a_role(engineer: User, outsider: User, client_for: ClientFor) -> None:
    """A user with no role may not read a run."""
    run = queued_refund(engineer)
    assert client_for(outsider).get(f"/runs/{run.id}/").status_code == 403


def test_run_detail_of_unknown_run_is_404(engineer: User, client_for: ClientFor) -> None:
    """A run id that does not exist is 404, not an error page."""
    assert client_for(engineer).get(f"/runs/{uuid.uuid4()}/").status_code == 404


def test_run_detail_redirects_anonymous_to_login(engineer: User, client_for: ClientFor) -> None:
    """An anonymous visitor of a run page is sent to the login page."""
    run = queued_refund(engineer)
    path = f"/runs/{run.id}/"
    assert_login_redirect(client_for(None).get(path), path)


def test_run_detail_shows_cancel_button_only_to_those_who_may_cancel(engineer: User, reviewer: User, client_for: ClientFor) -> None:
    """The cancel form is on an unfinished run's page for an engineer, not for a reviewer."""
    run = queued_refund(engineer)
    action = f'action="/runs/{run.id}/cancel"'.encode()
    assert action in client_for(engineer).get(f"/runs/{run.id}/").content
    assert action not in client_for(reviewer).get(f"/runs/{run.id}/").content


# --- /runs/<id>/cancel -------------------------------------------------------------------------


def test_engineer_cancels_a_run_and_is_sent_back_to_it(engineer: User, client_for: ClientFor) -> None:
    """POST cancel as an engineer: 302 back to the run page, and the run is cancelled."""
    run = queued_refund(engineer)
    client = client_for(engineer)
    response = client.post(f"/runs/{run.id}/cancel")
    assert response.status_code == 302
    assert response["Location"] == f"/runs/{run.id}/"
    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED
    page = client.get(response["Location"])
    assert b"Run cancelled." in page.content


def test_cancelling_a_finished_run_says_so(engineer: User, client_for: ClientFor) -> None:
    """Cancelling an already cancelled run redirects with a 'Not cancelled' message."""
    run = queued_refund(engineer)
    client = client_for(engineer)
    client.post(f"/runs/{run.id}/cancel")
    page = client.post(f"/runs/{run.id}/cancel", follow=True)
    assert page.status_code == 200
    assert b"Not cancelled: run already finished: cancelled." in page.content


def test_reviewer_may_not_cancel_a_run(engineer: User, reviewer: User, client_for: ClientFor) -> None:
    """A reviewer's cancel is 403 and the run stays queued."""
    run = queued_refund(engineer)
    assert client_for(reviewer).post(f"/runs/{run.id}/cancel").status_code == 403
    run.refresh_from_db()
    assert run.status == Run.Status.QUEUED


def test_cancel_by_get_is_405(engineer: User, client_for: ClientFor) -> None:
    """Cancel only answers POST: a GET is 405 and changes nothing."""
    run = queued_refund(engineer)
    assert client_for(engineer).get(f"/runs/{run.id}/cancel").status_code == 405
    run.refresh_from_db()
    assert run.status == Run.Status.QUEUED


def test_cancel_of_unknown_run_is_404(engineer: User, client_for: ClientFor) -> None:
    """Cancelling a run that does not exist is 404."""
    assert client_for(engineer).post(f"/runs/{uuid.uuid4()}/cancel").status_code == 404


def test_cancel_redirects_anonymous_to_login(engineer: User, client_for: ClientFor) -> None:
    """An anonymous cancel is sent to the login page and the run stays queued."""
    run = queued_refund(engineer)
    path = f"/runs/{run.id}/cancel"
    assert_login_redirect(client_for(None).post(path), path)
    run.refresh_from_db()
    assert run.status == Run.Status.QUEUED


# --- /agents/<key>/start -----------------------------------------------------------------------


def test_start_form_is_200_for_an_engineer_with_the_example_input(engineer: User, client_for: ClientFor) -> None:
    """The refund start form renders one input per schema field, filled with the example input."""
    response = client_for(engineer).get("/agents/refund/start")
    assert response.status_code == 200
    html = response.content.decode()
    for name in ("order_id", "amount", "reason"):
        assert f'id="id_{name}" name="{name}"' in html
    assert 'value="A-1001"' in html
    assert 'value="arrived broken"' in html


@pytest.mark.parametrize("role", ["reviewer", "outsider"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_start_form_is_403_for_non_engineers(role: str, method: str, request: pytest.FixtureRequest, client_for: ClientFor) -> None:
    """Reviewers and users without a role may neither see nor submit the start form."""
    user: User = request.getfixturevalue(role)
    body = {"order_id": order_id(), "amount": "50", "reason": "x"}
    response = getattr(client_for(user), method)("/agents/refund/start", body if method == "post" else None)
    assert response.status_code == 403
    assert not Run.objects.exists()


def test_start_form_of_unknown_agent_is_404(engineer: User, client_for: ClientFor) -> None:
    """An agent key nobody registered is 404."""
    assert client_for(engineer).get("/agents/no-such-agent/start").status_code == 404


def test_start_form_redirects_anonymous_to_login(db: Any, client_for: ClientFor) -> None:
    """An anonymous visitor of the start form is sent to the login page."""
    assert_login_redirect(client_for(None).get("/agents/refund/start"), "/agents/refund/start")


def test_invalid_start_is_422_with_errors_beside_fields_and_values_kept(engineer: User, client_for: ClientFor) -> None:
    """amount -5 and an empty order_id: 422, each error next to its field, the typed values kept."""
    response = client_for(engineer).post(
        "/agents/refund/start", {"order_id": "", "amount": "-5", "reason": "typed by hand"}
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert re.search(r'<small id="err_amount" class="error field-error">[^<]*greater than 0', html), html
    assert re.search(r'<small id="err_order_id" class="error field-error">[^<]*required', html, re.I), html
    assert 'aria-describedby="err_amount"' in html
    assert 'aria-describedby="err_order_id"' in html
    assert 'name="amount" type="number" step="any" value="-5"' in html
    assert 'name="reason" type="text" step="any" value="typed by hand"' in html
    assert 'name="order_id" type="text" step="any" value=""' in html
    assert 'id="err_reason"' not in html
    assert not Run.objects.exists()


def test_valid_start_redirects_to_the_new_run(engineer: User, client_for: ClientFor) -> None:
    """A valid POST creates one queued run for the engineer and redirects to its page."""
    order = order_id()
    client = client_for(engineer)
    response = client.post("/agents/refund/start", {"order_id": order, "amount": "75.5", "reason": "late"})
    assert response.status_code == 302
    run = Run.objects.get()
    assert response["Location"] == f"/runs/{run.id}/"
    assert run.agent.key == "refund"
    assert run.created_by == engineer
    assert run.status == Run.Status.QUEUED
    assert run.input == {"order_id": order, "amount": 75.5, "reason": "late"}
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert f"Run {run.id} queued.".encode() in page.content


# --- /approvals/ -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", ["reviewer", "admin_user"])
def test_approval_list_shows_pending_request_to_reviewers(
    role: str, engineer: User, request: pytest.FixtureRequest, client_for: ClientFor
) -> None:
    """Reviewers and admins see the pending list with the request's action and amount (with the
    currency the refund declares), linked to its page."""
    _, approval = waiting_refund(engineer)
    user: User = request.getfixturevalue(role)
    response = client_for(user).get("/approvals/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<a class="row-link" href="/approvals/{approval.id}/">' in html
    assert '<span class="action">issue_refund</span>' in html
    assert '<span class="amount">250.00 USD</span>' in html
    assert approval.summary and approval.summary in html


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", ["engineer", "outsider"])
def test_approval_list_is_403_for_non_reviewers(role: str, request: pytest.FixtureRequest, client_for: ClientFor) -> None:
    """Engineers and users without a role may not see the approval list."""
    user: User = request.getfixturevalue(role)
    assert client_for(user).get("/approvals/").status_code == 403


def test_approval_list_redirects_anonymous_to_login(db: Any, client_for: ClientFor) -> None:
    """An anonymous visitor of the approval list is sent to the login page."""
    assert_login_redirect(client_for(None).get("/approvals/"), "/approvals/")


def test_empty_approval_list_says_nothing_waits(reviewer: User, client_for: ClientFor) -> None:
    """With nothing pending, the list says so."""
    response = client_for(reviewer).get("/approvals/")
    assert response.status_code == 200
    assert b"Nothing waiting for you." in response.content


# --- /approvals/<id>/ --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_approval_detail_shows_proposed_arguments_to_a_reviewer(engineer: User, reviewer: User, client_for: ClientFor) -> None:
    """A reviewer sees the request's proposed arguments and the approve/reject form."""
    _, approval = waiting_refund(engineer)
    response = client_for(reviewer).get(f"/approvals/{approval.id}/")
    assert response.status_code == 200
    html = response.content.decode()
    proposed = re.search(r'<dl class="args" id="proposed-args" hx-disable>(.*?)</dl>', html, re.S)
    assert proposed, html
    assert f"<dt>order_id</dt><dd>{approval.proposed_args['order_id']}</dd>" in proposed.group(1)
    assert "<dt>amount</dt><dd>250.00 USD</dd>" in proposed.group(1)  # the currency the refund declares
    assert f'action="/approvals/{approval.id}/decide"' in html


@pytest.mark.django_db(transaction=True)
def test_approval_detail_is_403_for_an_engineer(engineer: User, client_for: ClientFor) -> None:
    """An engineer may not open an approval request, even for their own run."""
    _, approval = waiting_refund(engineer)
    assert client_for(engineer).get(f"/approvals/{approval.id}/").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_approval_detail_redirects_anonymous_to_login(engineer: User, client_for: ClientFor) -> None:
    """An anonymous visitor of an approval request is sent to the login page."""
    _, approval = waiting_refund(engineer)
    path = f"/approvals/{approval.id}/"
    assert_login_redirect(client_for(None).get(path), path)


def test_approval_detail_of_unknown_request_is_404(reviewer: User, client_for: ClientFor) -> None:
    """An approval id that does not exist is 404."""
    assert client_for(reviewer).get(f"/approvals/{uuid.uuid4()}/").status_code == 404


# --- /approvals/<id>/decide --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_reviewer_approves_and_moves_to_the_next_request_of_the_queue(engineer: User, reviewer: User, client_for: ClientFor) -> None:
    """decision=approve: the request is approved by the reviewer and its run queued; the reviewer
    is taken to the next pending request of the same queue (claimed once: its history lists one
    claim), and after the last one back to the inbox, which says nothing else waits."""
    _, approval = waiting_refund(engineer)
    _, following = waiting_refund(engineer)
    client = client_for(reviewer)
    response = client.post(f"/approvals/{approval.id}/decide", {"decision": "approve"})
    assert response.status_code == 302
    assert response["Location"] == f"/approvals/{following.id}/"
    approval.refresh_from_db()
    assert approval.status == ApprovalRequest.Status.APPROVED
    assert approval.decided_by == reviewer
    assert Run.objects.get(id=approval.run_id).status == Run.Status.QUEUED
    page = client.get(response["Location"])
    assert f"Approved: {approval.summary}. The run resumes.".encode() in page.content
    following.refresh_from_db()
    assert following.claimed_by == reviewer
    client.get(response["Location"])  # a reload is not a new claim
    history = re.search(rb'<ol class="history" hx-disable>(.*?)</ol>', client.get(response["Location"]).content, re.S)
    assert history and history.group(1).count(b"approval.claimed") == 1
    assert AuditEvent.objects.filter(object_id=str(following.id), action="approval.claimed").count() == 1

    last = client.post(f"/approvals/{following.id}/decide", {"decision": "approve"})
    assert last["Location"] == "/approvals/"
    assert b"Nothing else is waiting for you in payments." in client.get("/approvals/").content
    decided = client.get(f"/approvals/{approval.id}/").content
    assert re.search(rb'id="decided">\s*<p><strong>Approved</strong> by reviewer', decided)


@pytest.mark.django_db(transaction=True)
def test_requester_who_is_a_reviewer_cannot_approve_their_own_run(roles: None, client_for: ClientFor) -> None:
    """Four eyes: the run's starter, also a reviewer, is redirected with an error; still pending."""
    both = make_user("both", "engineers", "reviewers")
    _, approval = waiting_refund(both)
    client = client_for(both)
    detail = client.get(f"/approvals/{approval.id}/")
    assert b"You started this run: someone else must decide its action." in detail.content
    assert f'action="/approvals/{approval.id}/decide"'.encode() not in detail.content

    response = client.post(f"/approvals/{approval.id}/decide", {"decision": "approve"})
    assert response.status_code == 403
    assert b"you started this run: someone else must decide its action" in response.content
    approval.refresh_from_db()
    assert approval.status == ApprovalRequest.Status.PENDING
    assert approval.decided_by is None
    assert Run.objects.get(id=approval.run_id).status == Run.Status.WAITING


@pytest.mark.django_db(transaction=True)
def test_second_decision_shows_who_already_decided(engineer: User, reviewer: User, client_for: ClientFor) -> None:
    """A second reviewer deciding after the first gets 409 and a page saying 'already approved by
    reviewer', with the comment they typed still in the form; nothing changes."""
    _, approval = waiting_refund(engineer)
    assert (
        client_for(reviewer).post(f"/approvals/{approval.id}/decide", {"decision": "approve"}).status_code
        == 302
    )
    late = make_user("late", "reviewers")
    page = client_for(late).post(
        f"/approvals/{approval.id}/decide", {"decision": "reject", "comment": "my careful note", "reason_code": "policy"}
    )
    assert page.status_code == 409
    html = page.content.decode()
    assert re.search(r"this request is already approved,? by reviewer", html), html
    assert "my careful note" in html
    approval.refresh_from_db()
    assert approval.status == ApprovalRequest.Status.APPROVED
    assert approval.decided_by == reviewer


@pytest.mark.django_db(transaction=True)
def test_engineer_may_not_decide(engineer: User, client_for: ClientFor) -> None:
    """An engineer's decision is 403 and the request stays pending."""
    _, approval = waiting_refund(engineer)
    assert (
        client_for(engineer).post(f"/approvals/{approval.id}/decide", {"decision": "approve"}).status_code
        == 403
    )
    approval.refresh_from_db()
    assert approval.status == ApprovalRequest.Status.PENDING


@pytest.mark.django_db(transaction=True)
def test_unknown_decision_is_refused_with_a_readable_message(engineer: User, reviewer: User, client_for: ClientFor) -> None:
    """decision=maybe: 422 with the field error as a sentence (not a Python repr); still pending."""
    _, approval = waiting_refund(engineer)
    page = client_for(reviewer).post(f"/approvals/{approval.id}/decide", {"decision": "maybe"})
    assert page.status_code == 422
    approval.refresh_from_db()
    assert approval.status == ApprovalRequest.Status.PENDING
    flash = re.search(r'<p class="flash error" role="alert" id="problem">(.*?)</p>', page.content.decode(), re.S)
    assert flash, page.content
    assert "decision must be approve, reject, edit or respond" in flash.group(1)
    assert "[{" not in flash.group(1) and "&#x27;loc&#x27;" not in flash.group(1), flash.group(1)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("typed", "error"), [("lots", "must be a number"), ("-5", "-5")], ids=["unreadable", "against-the-schema"]
)
def test_an_edit_refused_shows_the_error_beside_its_field_with_the_typed_value(
    engineer: User, reviewer: User, typed: str, error: str, client_for: ClientFor
) -> None:
    """decision=edit with an amount the page cannot read, or one the schema refuses: 422, the edit
    panel open with the error under the amount and what was typed kept; nothing decided."""
    _, approval = waiting_refund(engineer)
    post = {"decision": "edit", "comment": "halve it", **{f"arg_{k}": str(v) for k, v in approval.proposed_args.items()}}
    page = client_for(reviewer).post(f"/approvals/{approval.id}/decide", {**post, "arg_amount": typed})
    assert page.status_code == 422
    html = page.content.decode()
    assert '<details id="edit-panel" open>' in html
    assert re.search(rf'name="arg_amount" value="{re.escape(typed)}" aria-invalid="true"', html), html
    field_error = re.search(r'<small id="err_amount" class="error field-error">(.*?)</small>', html)
    assert field_error is not None and error in field_error.group(1), html
    assert "halve it" in html
    approval.refresh_from_db()
    assert approval.status == ApprovalRequest.Status.PENDING and not approval.decisions.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("confirm", ["", "yes"], ids=["review", "confirm"])
def test_an_edit_with_an_argument_the_action_does_not_declare_is_refused(
    engineer: User, reviewer: User, confirm: str, client_for: ClientFor
) -> None:
    """arg_admin posted with an edit of issue_refund (which declares order_id and amount): 422,
    the message naming `admin` inside the open edit form; nothing decided, no diff shown."""
    _, approval = waiting_refund(engineer)
    post = {"decision": "edit", "confirm": confirm, **{f"arg_{k}": str(v) for k, v in approval.proposed_args.items()}}
    page = client_for(reviewer).post(f"/approvals/{approval.id}/decide", {**post, "arg_admin": "true"})
    assert page.status_code == 422
    html = page.content.decode()
    assert '<details id="edit-panel" open>' in html
    message = re.search(r'<details id="edit-panel" open>.*?<p id="edit-problem" class="error field-error">(.*?)</p>', html, re.S)
    assert message is not None and "admin" in message.group(1) and "not an argument" in message.group(1), html
    approval.refresh_from_db()
    assert approval.status == ApprovalRequest.Status.PENDING and not approval.decisions.exists()


@pytest.mark.django_db(transaction=True)
def test_decide_by_get_is_405(engineer: User, reviewer: User, client_for: ClientFor) -> None:
    """Deciding only answers POST."""
    _, approval = waiting_refund(engineer)
    assert client_for(reviewer).get(f"/approvals/{approval.id}/decide").status_code == 405


# --- /keys/ ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["engineer", "reviewer", "admin_user", "outsider"])
def test_key_page_is_200_for_any_logged_in_user(role: str, request: pytest.FixtureRequest, client_for: ClientFor) -> None:
    """Every logged-in user, with or without a role, may manage their own API keys."""
    user: User = request.getfixturevalue(role)
    response = client_for(user).get("/keys/")
    assert response.status_code == 200
    assert b"No keys yet." in response.content


def test_key_page_redirects_anonymous_to_login(db: Any, client_for: ClientFor) -> None:
    """An anonymous visitor of the key page is sent to the login page."""
    assert_login_redirect(client_for(None).get("/keys/"), "/keys/")
    assert_login_redirect(client_for(None).post("/keys/", {"name": "x"}), "/keys/")
    assert not ApiKey.objects.exists()


def test_new_key_is_shown_once_and_works(outsider: User, client_for: ClientFor) -> None:
    """POST creates a key; the raw key is in that response only, and it authenticates its owner."""
    client = client_for(outsider)
    response = client.post("/keys/", {"name": "CI pipeline", "expires_in_days": "30"})
    assert response.status_code == 200
    found = re.search(r'<pre id="new-key">(stw_[^<]+)</pre>', response.content.decode())
    assert found, response.content
    raw = found.group(1)
    key = ApiKey.objects.get(user=outsider)
    assert key.name == "CI pipeline"
    assert key.expires_at is not None
    assert raw.startswith(key.prefix)
    assert ApiKey.authenticate(raw) == key

    later = client.get("/keys/")
    assert later.status_code == 200
    assert raw.encode() not in later.content
    assert b'id="new-key"' not in later.content
    assert f"{key.prefix}…".encode() in later.content
    assert b"CI pipeline" in later.content


def test_key_with_a_bad_expiry_is_refused(engineer: User, client_for: ClientFor) -> None:
    """An expiry that is not 1..3650 days is 422 with the error, and no key is made."""
    response = client_for(engineer).post("/keys/", {"name": "x", "expires_in_days": "0"})
    assert response.status_code == 422
    assert b"Expiry must be a whole number of days" in response.content
    assert b'id="new-key"' not in response.content
    assert not ApiKey.objects.exists()


def test_admin_sees_everyones_keys_and_others_see_only_their_own(
    engineer: User, reviewer: User, admin_user: User, client_for: ClientFor
) -> None:
    """An admin's key list includes other users' keys with their owner; a non-admin's does not."""
    engineer_key, _ = ApiKey.issue(engineer, name="engineer-ci")
    reviewer_key, _ = ApiKey.issue(reviewer, name="reviewer-laptop")

    admin_html = client_for(admin_user).get("/keys/").content.decode()
    assert "<th>Owner</th>" in admin_html
    for key in (engineer_key, reviewer_key):
        assert f"{key.prefix}…" in admin_html
        assert key.name in admin_html
    assert "<td>engineer</td>" in admin_html

    reviewer_html = client_for(reviewer).get("/keys/").content.decode()
    assert "<th>Owner</th>" not in reviewer_html
    assert f"{reviewer_key.prefix}…" in reviewer_html
    assert f"{engineer_key.prefix}…" not in reviewer_html
    assert "engineer-ci" not in reviewer_html


def test_user_revokes_own_key(engineer: User, client_for: ClientFor) -> None:
    """POST revoke on one's own key: 302 to the key list, the key is revoked and stops working."""
    key, raw = ApiKey.issue(engineer, name="mine")
    client = client_for(engineer)
    response = client.post(f"/keys/{key.id}/revoke")
    assert response.status_code == 302
    assert response["Location"] == "/keys/"
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert ApiKey.authenticate(raw) is None
    page = client.get("/keys/")
    assert f"Key {key.prefix}… revoked.".encode() in page.content


def test_non_admin_cannot_revoke_someone_elses_key(engineer: User, reviewer: User, client_for: ClientFor) -> None:
    """Revoking another user's key is 404 for a non-admin, and the key keeps working."""
    key, raw = ApiKey.issue(engineer, name="engineer-ci")
    assert client_for(reviewer).post(f"/keys/{key.id}/revoke").status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None
    assert ApiKey.authenticate(raw) == key


def test_admin_revokes_someone_elses_key(engineer: User, admin_user: User, client_for: ClientFor) -> None:
    """An admin may revoke any user's key."""
    key, _ = ApiKey.issue(engineer, name="engineer-ci")
    assert client_for(admin_user).post(f"/keys/{key.id}/revoke").status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_revoke_of_unknown_key_is_404_and_get_is_405(engineer: User, client_for: ClientFor) -> None:
    """Revoking a key id that does not exist is 404; revoke only answers POST."""
    key, _ = ApiKey.issue(engineer)
    client = client_for(engineer)
    assert client.post(f"/keys/{key.id + 1000}/revoke").status_code == 404
    assert client.get(f"/keys/{key.id}/revoke").status_code == 405


# --- / and the navigation ----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["engineer", "reviewer", "admin_user"])
def test_home_is_the_dashboard_for_roles_that_read_runs(role: str, request: pytest.FixtureRequest, client_for: ClientFor) -> None:
    """Engineers, reviewers and admins land on the dashboard (tests/console/test_dashboard.py), not a redirect."""
    user: User = request.getfixturevalue(role)
    response = client_for(user).get("/")
    assert response.status_code == 200
    assert b"<h1>Dashboard</h1>" in response.content


def test_home_of_a_user_without_a_role_explains(outsider: User, client_for: ClientFor) -> None:
    """A user with no role gets a page that says to ask for one."""
    response = client_for(outsider).get("/")
    assert response.status_code == 200
    assert b"Your account has no console role yet" in response.content


def test_home_redirects_anonymous_to_login(db: Any, client_for: ClientFor) -> None:
    """An anonymous visitor of / is sent to the login page."""
    assert_login_redirect(client_for(None).get("/"), "/")


@pytest.mark.django_db(transaction=True)
def test_nav_shows_pending_count_to_a_reviewer(engineer: User, reviewer: User, client_for: ClientFor) -> None:
    """With one pending request, a reviewer's nav shows 1; an engineer's nav has no count."""
    waiting_refund(engineer)
    html = client_for(reviewer).get("/runs/").content.decode()
    assert re.search(r'<span id="nav-pending" class="badge" data-count="1">1</span>', html), html
    assert 'id="nav-pending"' not in client_for(engineer).get("/runs/").content.decode()


def test_nav_count_is_zero_without_pending_requests(reviewer: User, client_for: ClientFor) -> None:
    """With nothing pending, the reviewer's nav count is 0."""
    html = client_for(reviewer).get("/runs/").content.decode()
    assert '<span id="nav-pending" class="badge zero" data-count="0">0</span>' in html


# --- Model output, tool arguments and errors are text ------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_run_page_shows_agent_text_escaped(engineer: User, client_for: ClientFor) -> None:
    """Markup in a run's input flows through model output and tool arguments but is only ever text."""
    order = f"{XSS_SCRIPT}{uuid.uuid4().hex[:12]}"
    reason = f"{XSS_SCRIPT} {XSS_HTMX}"
    run = start_run("refund", {"order_id": order, "amount": 50, "reason": reason}, engineer)
    assert runtime.execute(run.id) == Run.Status.SUCCEEDED
    run.refresh_from_db()
    assert XSS_SCRIPT in str(run.output)

    response = client_for(engineer).get(f"/runs/{run.id}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;div hx-get=" in html
    assert "<script>alert(1)" not in html
    assert 'hx-get="/evil"' not in html
    # No htmx request on the page at all; the step rows link to this run's own spans.
    assert re.findall(r'hx-get="([^"]*)"', html) == []
    links = re.findall(r'<a id="span-\d+" [^>]*href="([^"]*)"', html, re.S)
    assert links and all(link.startswith(f"/runs/{run.id}/?span=") for link in links), links
    # The escaped text is in the run's output and in the steps' payloads (loaded when opened).
    output = re.search(r'<pre id="run-output" hx-disable>(.*?)</pre>', html, re.S)
    assert output and "&lt;script&gt;alert(1)&lt;/script&gt;" in output.group(1)
    detail = client_for(engineer).get(f"/runs/{run.id}/spans/1/", headers={"HX-Request": "true"}).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail and "<script>alert(1)" not in detail


@pytest.mark.django_db(transaction=True)
def test_approval_pages_show_agent_text_escaped(engineer: User, reviewer: User, client_for: ClientFor) -> None:
    """Markup in a gated tool's arguments and summary is escaped on the approval list and page."""
    order = f"{XSS_SCRIPT}{uuid.uuid4().hex[:8]}"
    run = start_run("refund", {"order_id": order, "amount": 250, "reason": XSS_HTMX}, engineer)
    assert runtime.execute(run.id) == Run.Status.WAITING
    approval = ApprovalRequest.objects.get(run=run)
    client = client_for(reviewer)
    for path in ("/approvals/", f"/approvals/{approval.id}/", f"/runs/{run.id}/"):
        html = client.get(path).content.decode()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
        assert "<script>alert(1)" not in html, path
        assert 'hx-get="/evil"' not in html, path
