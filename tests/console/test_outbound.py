"""The one check every URL Steward calls back goes through (console/kernel/outbound.py): internal
addresses are refused unless STEWARD_OUTBOUND_ALLOW names them, the host is resolved once and the
POST goes to the checked address, redirects are not followed, and no response body comes back."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from console.kernel.outbound import HostNotFound, OutboundRefused, check_url, post_json
from tests.support.processes import free_port
from tests.support.receivers import HttpReceiver
from tests.support.tls import make_certificates

INTERNAL = [
    ("http://127.0.0.1:8000/hook", "127.0.0.1", "loopback"),
    ("http://[::1]:8000/hook", "::1", "loopback"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254", "link-local"),
    ("http://10.0.0.1/hook", "10.0.0.1", "private"),
    ("http://192.168.1.1/hook", "192.168.1.1", "private"),
    ("http://224.0.0.1/hook", "224.0.0.1", "multicast"),
    ("http://localhost:8000/hook", "127.0.0.1", "loopback"),
    ("http://0.0.0.0:8000/hook", "0.0.0.0", "unspecified"),
    ("http://[::ffff:127.0.0.1]:8000/hook", "127.0.0.1", "loopback"),
    ("http://[::ffff:169.254.169.254]/hook", "169.254.169.254", "link-local"),
    ("http://[fe80::1]/hook", "fe80::1", "link-local"),
    ("http://[fd00::1]/hook", "fd00::1", "private"),
    ("http://100.64.0.1/hook", "100.64.0.1", "not publicly routable"),
    ("http://240.0.0.1/hook", "240.0.0.1", "reserved"),
    # Other spellings of 127.0.0.1 that the resolver understands: judged by what they resolve to.
    ("http://2130706433/hook", "127.0.0.1", "loopback"),
    ("http://0x7f.1/hook", "127.0.0.1", "loopback"),
]


@pytest.mark.parametrize(("url", "address", "kind"), INTERNAL)
def test_internal_addresses_are_refused_by_default(url: str, address: str, kind: str, settings: Any) -> None:
    settings.STEWARD_OUTBOUND_ALLOW = ""
    with pytest.raises(OutboundRefused) as refused:
        check_url(url)
    message = str(refused.value)
    assert address in message and kind in message
    # The message says how an operator allows it.
    assert "STEWARD_OUTBOUND_ALLOW" in message


@pytest.mark.parametrize("url", ["ftp://files.example.org/x", "file:///etc/passwd", "gopher://127.0.0.1/", "http:///nohost"])
def test_only_http_and_https_urls_with_a_host_are_checked_at_all(url: str) -> None:
    with pytest.raises(OutboundRefused):
        check_url(url)


def test_a_public_address_passes_without_the_allow_list(settings: Any) -> None:
    settings.STEWARD_OUTBOUND_ALLOW = ""
    checked = check_url("https://8.8.8.8/hooks?x=1")
    assert (checked.scheme, checked.hostname, checked.port, checked.target) == ("https", "8.8.8.8", 443, "/hooks?x=1")
    assert [sockaddr[0] for _, sockaddr in checked.addresses] == ["8.8.8.8"]


def test_the_allow_list_takes_addresses_networks_and_host_names(settings: Any) -> None:
    settings.STEWARD_OUTBOUND_ALLOW = " 127.0.0.1 , 10.0.0.0/8,hooks.internal "
    assert check_url("http://127.0.0.1:9/").hostname == "127.0.0.1"
    assert check_url("http://[::ffff:127.0.0.1]:9/").hostname == "::ffff:127.0.0.1"
    assert check_url("http://10.20.30.40/").hostname == "10.20.30.40"
    # Only what is listed: the rest of 127/8 and other private networks stay refused.
    for url in ("http://127.0.0.2/", "http://192.168.1.1/", "http://[::1]/", "http://169.254.169.254/"):
        with pytest.raises(OutboundRefused):
            check_url(url)

    settings.STEWARD_OUTBOUND_ALLOW = "localhost"
    assert check_url("http://localhost:9/").hostname == "localhost"
    # A host name entry allows that name, not the address it resolves to under another name.
    with pytest.raises(OutboundRefused):
        check_url("http://127.0.0.1:9/")


def test_a_host_that_does_not_resolve_is_its_own_error(settings: Any) -> None:
    with pytest.raises(HostNotFound) as not_found:
        check_url("https://hooks.example.test/in")
    assert "hooks.example.test" in str(not_found.value)


def test_post_goes_to_the_checked_address_with_the_original_host_header(
    receiver: Callable[..., HttpReceiver], settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.STEWARD_OUTBOUND_ALLOW = "127.0.0.1"
    r = receiver()
    checked = check_url(f"http://localhost:{r.port}{r.path}?attempt=1")

    def no_second_lookup(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a second DNS lookup: {args}")

    # Resolved once, at the check: the connection must not ask DNS again (a rebinding attacker
    # would answer the second lookup with an internal address).
    monkeypatch.setattr(socket, "getaddrinfo", no_second_lookup)
    result = post_json(checked, b'{"a":1}', {"X-Test": "yes"}, timeout=5)

    assert (result.status, result.reason, result.ok) == (200, "", True)
    [sent] = r.received
    assert sent["path"] == f"{r.path}?attempt=1" and sent["body"] == b'{"a":1}'
    assert sent["headers"]["Host"] == f"localhost:{r.port}"
    assert sent["headers"]["X-Test"] == "yes" and sent["headers"]["Content-Type"] == "application/json"


def test_a_failure_keeps_the_status_and_a_short_reason_never_the_body(receiver: Callable[..., HttpReceiver], settings: Any) -> None:
    settings.STEWARD_OUTBOUND_ALLOW = "127.0.0.1"
    r = receiver(default=500, failure_body=b"CANARY-7f3a internal secrets " * 50)
    result = post_json(check_url(r.url), b"{}", {}, timeout=5)
    assert (result.status, result.reason, result.ok) == (500, "HTTP 500 Internal Server Error", False)


def test_a_redirect_is_refused_not_followed(receiver: Callable[..., HttpReceiver], settings: Any) -> None:
    settings.STEWARD_OUTBOUND_ALLOW = "127.0.0.1"
    target = receiver(host="127.0.0.2")
    moved = receiver(default=307, location=target.url)
    result = post_json(check_url(moved.url), b"{}", {}, timeout=5)
    assert (result.status, result.reason, result.ok) == (307, "HTTP 307: redirect refused", False)
    assert len(moved.received) == 1 and target.received == []


def test_nobody_listening_is_a_short_network_reason(settings: Any) -> None:
    settings.STEWARD_OUTBOUND_ALLOW = "127.0.0.1"
    result = post_json(check_url(f"http://127.0.0.1:{free_port()}/"), b"{}", {}, timeout=5)
    assert result.status is None and "refused" in result.reason.lower() and not result.ok


def test_https_verifies_the_certificate_against_the_url_host_not_the_address(
    receiver: Callable[..., HttpReceiver], settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Connected to the checked address, TLS still asks for (SNI) and checks the URL's host name."""
    settings.STEWARD_OUTBOUND_ALLOW = "127.0.0.1"
    certificates = make_certificates(tmp_path, "localhost")
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(certificates.cert_file, certificates.key_file)
    r = receiver(tls=server_tls)
    # Steward trusts the test authority the way it trusts a public one: through OpenSSL's default.
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca_file))

    by_name = post_json(check_url(f"https://localhost:{r.port}{r.path}"), b"{}", {}, timeout=5)
    assert (by_name.status, by_name.ok) == (200, True)
    assert [s["headers"]["Host"] for s in r.received] == [f"localhost:{r.port}"]

    # The same server by its address: the certificate names localhost only, so nothing is sent.
    by_address = post_json(check_url(f"https://127.0.0.1:{r.port}{r.path}"), b"{}", {}, timeout=5)
    assert by_address.status is None and "certificate" in by_address.reason
    assert len(r.received) == 1
