"""Back-pressure for daphne's streamed responses, so a client that stops reading costs the web
process a bounded amount of memory.

Daphne's `send` for a response body writes to Twisted's transport and returns at once, whether or
not the socket took the bytes: a relay of a run's stream parts (console/langgraph_api/streaming.py)
to an SDK client that stopped reading kept reading the run's buffer and piled every part up in the
transport (a 32 MB stream cost the web process 32 MB, for as long as the connection stayed open).
Here `send` of a body chunk with more to come waits while the transport holds more than
`HIGH_WATER` bytes the socket has not taken, so the relay stops reading until the client reads (as
uvicorn's `send` does). A client that reads keeps the transport near empty and never waits.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["HIGH_WATER", "install", "unsent_bytes"]

# Bytes a connection's transport may hold beyond what the socket took before `send` waits.
HIGH_WATER = 256 * 1024
# How often a waiting `send` looks again (the transport has no awaitable "drained" signal).
POLL_SECONDS = 0.02


def install() -> None:
    """Wrap daphne's `Server.handle_reply` (what an application's `send` calls), once."""
    from daphne.server import Server

    original = Server.handle_reply
    if getattr(original, "steward_backpressure", False):
        return

    async def handle_reply(self: Any, protocol: Any, message: dict[str, Any]) -> None:
        await original(self, protocol, message)
        if message.get("type") == "http.response.body" and message.get("more_body"):
            await _until_drained(self, protocol)

    handle_reply.steward_backpressure = True  # type: ignore[attr-defined]
    Server.handle_reply = handle_reply


async def _until_drained(server: Any, protocol: Any) -> None:
    transport = getattr(getattr(protocol, "channel", None), "transport", None)
    while transport is not None and unsent_bytes(transport) > HIGH_WATER:
        state = server.connections.get(protocol)
        if state is None or state.get("disconnected"):
            return  # daphne drops what a closed connection's application sends
        await asyncio.sleep(POLL_SECONDS)


def unsent_bytes(transport: Any) -> int:
    """What Twisted's transport (`twisted.internet.abstract.FileDescriptor`) holds that the
    socket has not taken: its write buffer past the written offset, and the writes queued after it."""
    buffered = getattr(transport, "dataBuffer", b"")
    return len(buffered) - int(getattr(transport, "offset", 0)) + int(getattr(transport, "_tempDataLen", 0))
