"""The embedded default's channel layer: in memory, but safe to send to from any thread.

Channels' InMemoryChannelLayer hands messages to asyncio queues owned by the server's event
loop; the embedded worker publishes from its own thread, so sends are forwarded to that loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels.layers import InMemoryChannelLayer

__all__ = ["LocalChannelLayer"]


class LocalChannelLayer(InMemoryChannelLayer):
    _server_loop: asyncio.AbstractEventLoop | None = None

    async def receive(self, channel: str) -> Any:
        self._server_loop = asyncio.get_running_loop()
        return await super().receive(channel)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        loop = self._server_loop
        if loop is not None and loop.is_running() and loop is not asyncio.get_running_loop():
            future = asyncio.run_coroutine_threadsafe(super().group_send(group, message), loop)
            await asyncio.wrap_future(future)
            return
        await super().group_send(group, message)
