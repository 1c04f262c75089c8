"""Live events to browsers. A browser subscribes to the groups of what it shows."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from console import live


class LiveConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.groups_joined: list[str] = []
        await self.accept()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        group = content.get("subscribe") if isinstance(content, dict) else None
        if isinstance(group, str) and (group in (live.APPROVALS_GROUP, live.RUNS_GROUP) or group.startswith("run-")):
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.append(group)

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def steward_event(self, event: dict[str, Any]) -> None:
        await self.send_json({k: v for k, v in event.items() if k != "type"})
