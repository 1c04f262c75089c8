"""Login throttling (console/kernel/ratelimit.py): failed logins are counted per account and per client
address in a sliding window; once either budget is spent the login page answers 429 with a message
saying so, the right password included, until the window has passed. Successful logins never count.

The limits and the window are set low with override_settings; the counters are the real ones (Redis,
as in production), emptied before and after each test.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings

from console.kernel import ratelimit
from tests.support.users import make_user

pytestmark = pytest.mark.django_db

PER_ACCOUNT = 3
PER_ADDRESS = 5
WINDOW = 2


@pytest.fixture(autouse=True)
def _fresh_counters() -> Iterator[None]:
    ratelimit.clear()
    with override_settings(
        STEWARD_LOGIN_FAILURES_PER_ACCOUNT=PER_ACCOUNT,
        STEWARD_LOGIN_FAILURES_PER_ADDRESS=PER_ADDRESS,
        STEWARD_LOGIN_WINDOW_SECONDS=WINDOW,
    ):
        yield
    ratelimit.clear()


def attempt(username: str, password: str, address: str = "203.0.113.7", path: str = "/login/") -> tuple[int, str, bool]:
    """POST the login form from `address`: (status, page text, signed in afterwards)."""
    client = Client(REMOTE_ADDR=address)
    response = client.post(path, {"username": username, "password": password})
    return response.status_code, response.content.decode(), "_auth_user_id" in client.session


def test_failed_logins_for_one_account_are_throttled_then_the_account_works_after_the_window(engineer: User) -> None:
    """The report: 40 wrong passwords in 12.5 s were all answered normally and the right one then
    worked. Now the wrong ones past the budget, and the right one while it is spent, are refused."""
    for _ in range(PER_ACCOUNT):
        status, page, signed_in = attempt("engineer", "wrong")
        assert status == 200 and "password didn" in page and not signed_in
    status, page, signed_in = attempt("engineer", "wrong")
    assert status == 429 and not signed_in
    assert "Too many failed logins" in page and "try again in" in page
    # The right password from another address: the account's budget is spent all the same.
    status, page, signed_in = attempt("engineer", "pw-engineer", address="198.51.100.9")
    assert status == 429 and not signed_in and "Too many failed logins" in page
    time.sleep(WINDOW + 0.2)
    status, _, signed_in = attempt("engineer", "pw-engineer")
    assert status == 302 and signed_in


def test_the_refusal_carries_retry_after_within_the_window(engineer: User) -> None:
    for _ in range(PER_ACCOUNT):
        attempt("engineer", "wrong")
    response = Client(REMOTE_ADDR="203.0.113.7").post("/login/", {"username": "engineer", "password": "wrong"})
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= WINDOW


def test_failed_logins_from_one_address_are_throttled_across_accounts(engineer: User) -> None:
    """Guessing one password for many accounts: the address's budget stops it; another address
    and the accounts themselves are unaffected."""
    for n in range(PER_ADDRESS):
        status, _, _ = attempt(f"user{n}", "wrong")
        assert status == 200
    status, page, _ = attempt("someone-else", "wrong")
    assert status == 429 and "Too many failed logins" in page
    status, _, signed_in = attempt("engineer", "pw-engineer", address="198.51.100.9")
    assert status == 302 and signed_in


def test_successful_logins_do_not_count(engineer: User) -> None:
    for _ in range(PER_ACCOUNT + PER_ADDRESS + 1):
        status, _, signed_in = attempt("engineer", "pw-engineer")
        assert status == 302 and signed_in


def test_the_admin_login_shares_the_budget(roles: None) -> None:
    make_user("boss", "admins", is_staff=True, is_superuser=True)
    for _ in range(PER_ACCOUNT):
        status, _, _ = attempt("boss", "wrong", path="/admin/login/")
        assert status == 200
    status, page, signed_in = attempt("boss", "pw-boss", path="/admin/login/")
    assert status == 429 and not signed_in and "Too many failed logins" in page
    status, _, signed_in = attempt("boss", "pw-boss")
    assert status == 429 and not signed_in
