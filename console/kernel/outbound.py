"""The one way Steward calls a URL someone typed in (webhooks): checked, pinned, no redirects.

A webhook URL is chosen by a user, and Steward sends from inside the network: without a check
an admin could make it POST to 127.0.0.1, the cloud metadata service (169.254.169.254) or any
private host, and read the answer back from the delivery log. So:

- `check_url` resolves the host once and refuses the URL if ANY address it resolves to is
  loopback, link-local, private, multicast, unspecified, reserved or otherwise not publicly
  routable (IPv4-mapped and 6to4/NAT64 IPv6 forms are judged by the IPv4 address inside), unless
  STEWARD_OUTBOUND_ALLOW names the address, a network holding it, or the URL's host name.
- `post_json` connects to an address `check_url` checked, never asking DNS again (a second
  lookup is what DNS rebinding answers with an internal address), sends the URL's own Host
  header and, for https, verifies the certificate against the URL's host name (SNI).
- A redirect is not followed: it is a failure ("redirect refused").
- The result is a status code and a short reason of Steward's own words: a response body (or
  the server's reason phrase) never comes back, so nothing an internal service says can be read.

Every URL Steward calls back goes through here; a new caller must not open its own connection.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from console.kernel.errors import StewardError

__all__ = ["CheckedTarget", "HostNotFound", "OutboundError", "OutboundRefused", "OutboundResult", "check_url", "post_json"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (address family, socket address) as getaddrinfo gives them: (host, port) for IPv4, (host, port,
# flowinfo, scope_id) for IPv6.
ResolvedAddress = tuple[int, tuple[Any, ...]]

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Steward's reasons are short; a network error's text is cut to this.
_REASON_CHARS = 200
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class OutboundError(StewardError):
    """A URL Steward will not (or cannot) call."""


class OutboundRefused(OutboundError):
    """The URL is not http(s) or reaches an address Steward does not send to."""


class HostNotFound(OutboundError):
    """The URL's host does not resolve (now: DNS may answer later)."""


@dataclass(frozen=True)
class CheckedTarget:
    """A URL that passed `check_url`, with the addresses that were checked (connect only to these)."""

    url: str
    scheme: str
    hostname: str
    port: int
    target: str  # the request target: path and query
    addresses: tuple[ResolvedAddress, ...]


@dataclass(frozen=True)
class OutboundResult:
    """What a POST came to: the status (None when no answer came) and a short reason ("" on 2xx)."""

    status: int | None
    reason: str

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (::ffff:a.b.c.d, 6to4, NAT64), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _internal_kind(address: IPAddress) -> str | None:
    """What makes `address` internal ("loopback", "private"...), or None for a public address."""
    address = _embedded_ipv4(address) or address
    # Most specific first: 127.0.0.1 is also "private" to ipaddress, loopback says more.
    for kind, flag in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
    ):
        if flag:
            return kind
    # 100.64.0.0/10 (carrier-grade NAT) and the like: neither private nor public.
    return None if address.is_global else "not publicly routable"


def _names_it(hostname: str) -> str:
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        return "resolves to it"
    return "is another form of it"


def _allow_list() -> tuple[list[ipaddress.IPv4Network | ipaddress.IPv6Network], set[str]]:
    """STEWARD_OUTBOUND_ALLOW as (networks, host names): addresses and CIDRs, or names."""
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    names: set[str] = set()
    for entry in str(settings.STEWARD_OUTBOUND_ALLOW).split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            names.add(entry)
    return networks, names


def _resolve(hostname: str, port: int) -> tuple[ResolvedAddress, ...]:
    try:
        infos = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise HostNotFound(f"{hostname} does not resolve ({exc})") from exc
    addresses: list[ResolvedAddress] = []
    for family, _, _, _, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6) and (family, sockaddr) not in addresses:
            addresses.append((family, sockaddr))
    if not addresses:
        raise HostNotFound(f"{hostname} has no IPv4 or IPv6 address")
    return tuple(addresses)


def check_url(url: str) -> CheckedTarget:
    """Check a URL Steward is to call: http(s), and every address of its host allowed.

    Args:
        url: the URL as saved.

    Returns:
        The checked target; `post_json` connects only to its addresses.

    Raises:
        OutboundRefused: not http(s), no host, or an address is internal and not allowed; the
            message names the address, why, and STEWARD_OUTBOUND_ALLOW.
        HostNotFound: the host does not resolve.
    """
    try:
        parts = urlsplit(url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower(), 0)
    except ValueError as exc:
        raise OutboundRefused(f"not a valid URL ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise OutboundRefused("only http:// and https:// URLs are called")
    hostname = (parts.hostname or "").lower()
    if not hostname:
        raise OutboundRefused("the URL has no host")
    addresses = _resolve(hostname, port)
    networks, names = _allow_list()
    if hostname not in names:
        for _, sockaddr in addresses:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
            kind = _internal_kind(address)
            # An allowed 127.0.0.1 allows ::ffff:127.0.0.1 too: it is the same host.
            shown = _embedded_ipv4(address) or address
            if kind is None or any(a in network for network in networks for a in (address, shown)):
                continue
            via = "" if str(shown) == hostname else f" ({hostname} {_names_it(hostname)})"
            raise OutboundRefused(
                f"{shown} is a {kind} address{via}; Steward does not send to internal addresses "
                "unless the STEWARD_OUTBOUND_ALLOW setting lists it"
            )
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return CheckedTarget(url=url, scheme=scheme, hostname=hostname, port=port, target=target, addresses=addresses)


def _connect(checked: CheckedTarget, timeout: float) -> socket.socket:
    """A TCP connection to the first checked address that answers (no DNS lookup here)."""
    error: OSError = OSError("no address to connect to")
    for family, sockaddr in checked.addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    raise error


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to the checked addresses; the Host header is still the URL's host."""

    def __init__(self, checked: CheckedTarget, timeout: float) -> None:
        super().__init__(checked.hostname, checked.port, timeout=timeout)
        self._checked = checked
        self._connect_timeout = timeout

    def connect(self) -> None:
        self.sock = _connect(self._checked, self._connect_timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to the checked addresses; SNI and the certificate check use the URL's host name."""

    def __init__(self, checked: CheckedTarget, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(checked.hostname, checked.port, timeout=timeout, context=self._tls)
        self._checked = checked
        self._connect_timeout = timeout

    def connect(self) -> None:
        sock = _connect(self._checked, self._connect_timeout)
        try:
            self.sock = self._tls.wrap_socket(sock, server_hostname=self._checked.hostname)
        except BaseException:
            sock.close()
            raise


def _status_reason(status: int) -> str:
    """Steward's words for a non-2xx status: the receiver's own reason phrase is not kept either."""
    if 300 <= status < 400:
        return f"HTTP {status}: redirect refused"
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def _network_reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not valid for {exc.verify_message or 'this host'}"[:_REASON_CHARS]
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"[:_REASON_CHARS]
    if isinstance(exc, http.client.HTTPException):
        return f"not an HTTP answer ({type(exc).__name__})"
    return f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}"[:_REASON_CHARS]


def post_json(checked: CheckedTarget, body: bytes, headers: dict[str, str], timeout: float) -> OutboundResult:
    """POST `body` once to a checked URL and say how it went, without reading the answer's body.

    Args:
        checked: what `check_url` returned (just now: the allow-list or DNS may have changed).
        body: the request body, byte for byte (webhooks sign these bytes).
        headers: request headers; Content-Type defaults to application/json.
        timeout: seconds for the connection and for each read.

    Returns:
        The status (None when no HTTP answer came) and a short reason: "" for 2xx, "HTTP <status>
        <phrase>", "HTTP <status>: redirect refused", or a network error in a few words.
    """
    connection_class = _PinnedHTTPSConnection if checked.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(checked, timeout)
    sent_headers = {"Content-Type": "application/json", **headers}
    try:
        connection.request("POST", checked.target, body=body, headers=sent_headers)
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        return OutboundResult(None, _network_reason(exc))
    finally:
        # The body is never read: closing drops whatever the receiver sent.
        connection.close()
    return OutboundResult(status, "" if 200 <= status < 300 else _status_reason(status))
