"""Logging in through the real login page in a Playwright browser context."""

from __future__ import annotations

from typing import Any


def login(context: Any, base: str, username: str) -> Any:
    """A new page of `context`, logged in as `username` (a user made by `make_user`)."""
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User

    # The server runs on the normal settings, which do not accept the tests' fast MD5 hashes.
    User.objects.filter(username=username).update(password=make_password("pw-" + username, hasher="pbkdf2_sha256"))
    page = context.new_page()
    page.goto(base + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw-" + username)
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    return page
