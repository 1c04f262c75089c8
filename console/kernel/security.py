"""The Content-Security-Policy header, on every response.

Django 5.2 has no CSP of its own (SecurityMiddleware sets the other headers: see the security
block of console/settings.py). The policy below is what the console's pages need and no more:

- scripts: our own files only. No inline <script> and no inline handlers anywhere (page scripts
  live in static/console/*.js; data reaches them through `json_script` blocks, which are not
  executed), and no eval: htmx runs with `allowEval: false` (the htmx-config meta tag in
  templates/base.html), the vendored Chart.js and Mermaid need none.
- styles: 'self' plus 'unsafe-inline', because (1) Mermaid draws the graph page as an SVG that
  carries its own <style> element and supports no nonce, (2) the run waterfall places each span's
  bar with a `style` attribute computed on the server, (3) Swagger UI (/api/docs) and Django's
  admin set inline styles. A style can restyle a page but not run code or send data anywhere
  that img-src, connect-src and form-action do not allow, and untrusted text is escaped before it
  reaches a page anyway. htmx's own indicator <style> is turned off (includeIndicatorStyles).
- images: 'self' and data: URIs (Pico CSS draws its checkboxes, selects and chevrons with them).
- connect-src 'self' covers fetches and the live websocket: CSP 3 matches ws: and wss: to the
  page's own host under 'self'.
- no plugins, no <base> tag, forms post to ourselves, no page may frame us (with X-Frame-Options
  DENY for older browsers).

STEWARD_CSP (environment) replaces the whole policy, e.g. to add a reporting endpoint.

Signed-in pages also carry `Cache-Control: no-store` (SignedInPagesNotStoredMiddleware): they show
runs' inputs, approvals and, once, a new API key, which neither the browser's cache (the next
person at a shared machine, the back button after logout) nor a proxy's may keep.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control

__all__ = ["DEFAULT_POLICY", "ContentSecurityPolicyMiddleware", "SignedInPagesNotStoredMiddleware", "policy"]

DEFAULT_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def policy() -> str:
    return settings.STEWARD_CSP or DEFAULT_POLICY


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # A view that needs its own policy sets the header itself.
        response.headers.setdefault("Content-Security-Policy", policy())
        return response


class SignedInPagesNotStoredMiddleware:
    """`Cache-Control: no-store, private` on HTML answered to a signed-in user (after
    AuthenticationMiddleware, which sets request.user)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not response.get("Content-Type", "").startswith("text/html"):
            return response
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            patch_cache_control(response, no_store=True, private=True)
        return response
