"""The live websocket from a test: sockets through the whole ASGI stack, and waiting for the
publisher thread. pytest-asyncio is not installed: a test is sync and runs one coroutine with
`run_async`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User

from console.kernel import live
from tests.support.clients import logged_in

ORIGIN = (b"origin", b"http://testserver")
QUIET = 1.0  # seconds without a message that count as "nothing sent"


def run_async(fn: Callable[[], Awaitable[None]]) -> None:
    """Run one test coroutine to the end on a fresh event loop."""
    async_to_sync(fn)()


def session_cookie(user: User) -> bytes:
    browser = logged_in(user)
    return f"sessionid={browser.cookies['sessionid'].value}; csrftoken=tok3n".encode()


async def open_socket(
    query: str, user: User | None = None, headers: list[tuple[bytes, bytes]] | None = None
) -> tuple[WebsocketCommunicator, bool, Any]:
    """A socket through the whole ASGI stack: (communicator, accepted, subprotocol or close code)."""
    from console.asgi import application

    sent = list(headers if headers is not None else [ORIGIN])
    if user is not None:
        sent.append((b"cookie", await sync_to_async(session_cookie)(user)))
    communicator = WebsocketCommunicator(application, f"/ws/live/?{query}", headers=sent)
    accepted, detail = await communicator.connect(timeout=10)
    return communicator, accepted, detail


async def received(communicator: WebsocketCommunicator, quiet: float = QUIET) -> str:
    """Everything the socket gets until it has been quiet for `quiet` seconds, joined."""
    messages = []
    while not await communicator.receive_nothing(timeout=quiet):
        messages.append(await communicator.receive_from(timeout=10))
    return "\n".join(messages)


def settle(group: str, quiet: float = 0.5, timeout: float = 15.0) -> int:
    """Wait until the publisher has stopped numbering events for `group` (it is a thread); its
    current number."""
    deadline = time.monotonic() + timeout
    last, since = live.current_seq(group), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = live.current_seq(group)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return now
    raise AssertionError(f"events for {group} did not settle within {timeout} s")
