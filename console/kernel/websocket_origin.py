"""Websocket origin validation: only pages of this site may open the live socket.

Browsers send cookies with a websocket handshake whatever page starts it, and the same-origin
policy does not apply to websockets, so a foreign page could otherwise open a socket with the
user's session (cross-site websocket hijacking). Browsers always send `Origin` on a handshake;
it is accepted when it is

- in CSRF_TRUSTED_ORIGINS (scheme, host and port exactly, like Django's CSRF check), or
- the handshake's own host, when that host is one of ALLOWED_HOSTS (same origin), or
- a host matching one of ALLOWED_HOSTS other than "*" (what Channels'
  AllowedHostsOriginValidator accepts).

Unlike AllowedHostsOriginValidator, ALLOWED_HOSTS = "*" does not let every origin in: then only
the same origin and the trusted ones are. A handshake without an Origin is refused (no browser
sends one; a script that does not is not a page of ours). Settings are read per handshake.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

if TYPE_CHECKING:
    from asgiref.typing import ASGIReceiveCallable, ASGISendCallable
    from channels.consumer import _ChannelScope

__all__ = ["OriginValidator", "origin_allowed"]


def _allowed_hosts() -> list[str]:
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = [".localhost", "127.0.0.1", "[::1]"]  # what Django allows then
    return hosts


def origin_allowed(origin: str | None, host: str | None) -> bool:
    """Whether a handshake with this `Origin` and `Host` comes from a page of this site."""
    if not origin:
        return False
    parsed = urlparse(origin.strip().lower())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return False
    if f"{parsed.scheme}://{parsed.netloc}" in {o.rstrip("/").lower() for o in settings.CSRF_TRUSTED_ORIGINS}:
        return True
    allowed = _allowed_hosts()
    if host:
        domain, _ = split_domain_port(host.lower())
        if parsed.netloc == host.lower() and domain and validate_host(domain, allowed):
            return True
    return any(pattern != "*" and is_same_domain(parsed.hostname, pattern.lower()) for pattern in allowed)


def _header(scope: Mapping[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            try:
                return bytes(value).decode("latin1")
            except (TypeError, ValueError):
                return None
    return None


class OriginValidator:
    """ASGI middleware: a websocket whose origin is not allowed is closed before anything else."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: _ChannelScope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> Any:
        if scope["type"] == "websocket" and not origin_allowed(_header(scope, b"origin"), _header(scope, b"host")):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
