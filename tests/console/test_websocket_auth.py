"""Who may open the live websocket, and which objects' events each user gets on it.

Everything goes through the real ASGI application (origin check, session cookie, consumer) and
the real channel layer; events come from the real services (a cancel, a claim, a reassignment)
through the real publisher. The property under test: a user who may not see an object never
gets its events or its fragments, even when asking for its group by name.

pytest-asyncio is not installed: each test is sync and runs one coroutine with `async_to_sync`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group, User
from django.db import connections

from agents.engine.models import Run
from agents.engine.services import cancel_run, start_run
from approvals.models import ApprovalRequest, Queue
from approvals.services import claim, reassign
from console.kernel import live
from console.kernel.websocket_origin import origin_allowed
from tests.support.live import open_socket, received, run_async, settle
from tests.support.runs import waiting_refund
from tests.support.users import make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]


def in_thread(fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
    """Call a service from another thread, as a request handler would, closing its connection."""

    def call() -> Any:
        try:
            return fn(*args)
        finally:
            connections.close_all()

    return sync_to_async(call, thread_sensitive=False)()


@pytest.fixture
def people(roles: None) -> dict[str, User]:
    auditors = Group.objects.create(name="auditors")
    secret = Queue.objects.create(name="secret", description="only auditors review it")
    secret.reviewer_groups.add(auditors)
    return {
        "outsider": make_user("outsider"),
        "reviewer": make_user("reviewer", "reviewers"),
        "engineer": make_user("engineer", "engineers"),
        "admin": make_user("admin", "admins"),
        # Reviews only the secret queue (the reviewers group lets one review at all).
        "auditor": make_user("auditor", "reviewers", "auditors"),
    }


# --- Origin ------------------------------------------------------------------------------------


def test_a_foreign_origin_or_none_is_refused_even_with_a_valid_session(people: dict[str, User]) -> None:
    """A page of another site (or a client sending no Origin) cannot open a socket with the user's
    session; the same session from a page of this site can."""
    engineer = people["engineer"]

    async def scenario() -> None:
        for headers in ([(b"origin", b"http://evil.example")], [(b"origin", b"https://testserver.evil.example")], []):
            communicator, accepted, _ = await open_socket("", engineer, headers=headers)
            assert accepted is False, headers
            await communicator.wait()
        communicator, accepted, _ = await open_socket("", engineer)
        assert accepted is True
        await communicator.disconnect()

    run_async(scenario)


def test_any_host_setting_still_refuses_foreign_origins(people: dict[str, User], settings: Any) -> None:
    """ALLOWED_HOSTS = "*" lets in the page's own origin (Origin = Host) and the trusted origins,
    not every origin (Channels' AllowedHostsOriginValidator would accept any)."""
    settings.ALLOWED_HOSTS = ["*"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://steward.example.org"]
    engineer = people["engineer"]
    host = (b"host", b"console.example.com")

    async def scenario() -> None:
        for origin, allowed in [
            (b"http://evil.example", False),
            (b"http://console.example.com.evil.example", False),
            (b"http://console.example.com", True),
            (b"https://steward.example.org", True),
            (b"http://steward.example.org", False),
        ]:
            communicator, accepted, _ = await open_socket("", engineer, headers=[(b"origin", origin), host])
            assert accepted is allowed, origin
            if accepted:
                await communicator.disconnect()
            else:
                await communicator.wait()

    run_async(scenario)


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        ("http://testserver", None, True),
        ("http://localhost:8000", "localhost:8000", True),
        ("http://127.0.0.1:8000", None, True),
        ("http://evil.example", "evil.example", False),  # its own host, but not an allowed host
        ("http://evil.example", "testserver", False),
        ("null", "testserver", False),  # sandboxed frames and file:// pages
        ("ftp://testserver", "testserver", False),
        ("", "testserver", False),
        (None, "testserver", False),
    ],
)
def test_origin_rules(origin: str | None, host: str | None, allowed: bool) -> None:
    assert origin_allowed(origin, host) is allowed


# --- Runs ---------------------------------------------------------------------------------------


def test_run_events_reach_only_users_who_may_read_the_run(people: dict[str, User]) -> None:
    """Every role asks for the run's group by name; those who may read runs get its fragments on
    connect and on its next event (a cancel), the others nothing, neither then nor later."""
    run = start_run("refund", {"order_id": "WS-1", "amount": 250, "reason": "late"}, people["engineer"])
    group = live.run_group(run.id)
    settle(group)
    readers, others = ["reviewer", "engineer", "admin", "auditor"], ["outsider"]

    async def scenario() -> None:
        sockets = {}
        for name in readers + others:
            communicator, accepted, _ = await open_socket(f"subscribe={group}", people[name])
            assert accepted is True  # the socket stays; the subscription is what is refused
            sockets[name] = communicator
        for name in readers:
            assert 'id="run-header"' in await received(sockets[name]), name
        await in_thread(lambda: cancel_run(Run.objects.get(id=run.id), people["engineer"]))
        for name in readers:
            assert "cancelled" in await received(sockets[name]), name
        for name in others:
            assert await received(sockets[name]) == "", name
        for communicator in sockets.values():
            await communicator.disconnect()

    run_async(scenario)


def test_a_run_that_does_not_exist_or_a_bad_group_name_gets_nothing(people: dict[str, User]) -> None:
    """Asking for a run that does not exist, a malformed run id or a group we do not know joins
    nothing: an event later sent to those names does not reach the socket. Another spelling of a
    real run's id is joined under the publisher's name for it."""
    run = start_run("refund", {"order_id": "WS-2", "amount": 250, "reason": "late"}, people["engineer"])
    settle(live.run_group(run.id))
    missing = uuid.uuid4()
    asked = [f"run-{missing}", "run-not-a-uuid", "run-", "dead-letters", "approvals-secret", f"run-{{{missing}}}"]

    async def scenario() -> None:
        query = "&".join(f"subscribe={name}" for name in asked)
        communicator, accepted, _ = await open_socket(query, people["admin"])
        assert accepted is True
        assert await received(communicator) == ""
        for name in [live.run_group(missing), *asked[1:]]:
            await in_thread(live.publish_now, name, {"kind": "run", "run_id": str(missing), "status": "running"})
        assert await received(communicator) == ""
        await communicator.disconnect()

        braces = f"run-{{{str(run.id).upper()}}}"
        communicator, accepted, _ = await open_socket(f"subscribe={braces}", people["engineer"])
        assert accepted is True
        assert str(run.id) in await received(communicator)
        await communicator.disconnect()

    run_async(scenario)


# --- Approvals ------------------------------------------------------------------------------------


def test_approval_events_reach_only_the_queues_reviewers(people: dict[str, User]) -> None:
    """A request in a queue only auditors review: its claim reaches the auditor and the admin, not
    the payments reviewer, the engineer or the outsider, although all asked for the approvals
    group; and its detail page's view (`view=approval:<id>`) renders nothing for the reviewer."""
    secret = ApprovalRequest.objects.create(
        queue=Queue.objects.get(name="secret"), action="wire_transfer", summary="secret-summary", proposed_args={}
    )
    waiting_refund(people["engineer"])  # one request the reviewer does see, in payments
    settle(live.APPROVALS_GROUP)
    query = f"subscribe=approvals&view=approvals&view=approval:{secret.id}"

    async def scenario() -> None:
        sockets = {}
        for name in ["reviewer", "auditor", "admin", "engineer", "outsider"]:
            communicator, accepted, _ = await open_socket(query, people[name])
            assert accepted is True
            sockets[name] = communicator
        first = {name: await received(sockets[name]) for name in sockets}
        assert first["engineer"] == first["outsider"] == ""
        assert 'data-count="1"' in first["reviewer"] and "issue_refund" in first["reviewer"]
        assert "secret-summary" not in first["reviewer"] and str(secret.id) not in first["reviewer"]
        assert 'id="approval-status"' not in first["reviewer"]
        assert 'id="approval-status"' in first["auditor"] and "secret-summary" in first["auditor"]

        await in_thread(claim, secret.id, people["auditor"])
        after = {name: await received(sockets[name]) for name in sockets}
        assert "auditor" in after["auditor"] and "auditor" in after["admin"]  # the holder's name
        assert after["reviewer"] == after["engineer"] == after["outsider"] == ""
        for communicator in sockets.values():
            await communicator.disconnect()

    run_async(scenario)


def test_a_request_reassigned_away_updates_the_old_reviewer_once_then_nothing(people: dict[str, User]) -> None:
    """Moving a request from payments to the auditors' queue updates the reviewer's page (the count
    drops, the row goes); events about it afterwards no longer reach them."""
    _, approval = waiting_refund(people["engineer"])
    settle(live.APPROVALS_GROUP)

    async def scenario() -> None:
        reviewer, accepted, _ = await open_socket("subscribe=approvals&view=approvals", people["reviewer"])
        assert accepted is True
        assert 'data-count="1"' in await received(reviewer)

        await in_thread(reassign, approval.id, people["admin"], "secret", "auditors must see it")
        moved = await received(reviewer)
        assert 'data-count="0"' in moved and "Nothing waiting for you." in moved

        await in_thread(claim, approval.id, people["auditor"])
        assert await received(reviewer) == ""
        await reviewer.disconnect()

    run_async(scenario)
