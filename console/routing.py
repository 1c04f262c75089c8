from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django.urls import path

from console.web.consumers import LiveConsumer

if TYPE_CHECKING:
    from channels.routing import URLRouter, _ExtendedURLPattern

# Channels routes are Django's path() over ASGI apps; django-stubs types path() for views only, and
# channels' stubs want their own (stub-only) _ExtendedURLPattern: said once here, for asgi.py's URLRouter.
websocket_urlpatterns = cast(
    "list[_ExtendedURLPattern | URLRouter]",
    [path("ws/live/", LiveConsumer.as_asgi())],  # type: ignore[arg-type]  # an ASGI app, not a view
)
