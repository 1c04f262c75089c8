"""Per-user rate limits on what costs: starting runs and deciding approvals. Reads never count.

A middleware, keyed on the method and the URL name the request resolved to, so the views stay
as they are: a POST to one of `LIMITED` counts against its user's budget of that kind ("start"
or "decide", each on its own) and gets a 429 with Retry-After once the budget is spent. The
budget is STEWARD_RATE_LIMIT_PER_MINUTE requests in any 60 seconds (a sliding window: no burst
of twice the limit across a minute boundary). A refused request does not count, so a client that
waits as Retry-After says gets through.

Counters live in Redis when Steward has one (the channel layer's, else the broker's), so every
web process and machine shares them; the embedded server, one process, counts in memory. If
Redis fails the request goes through (and a warning is logged): the limit protects capacity,
it is not an access check.

Who: the session's user, or for the API the owner of the Bearer key. A request with neither is
not counted: its view answers 401 or sends it to the login page.

Logins are throttled with the same counters, on failures only: each failed login (the
`user_login_failed` signal, from the console's login page and the admin's) counts against its
account (STEWARD_LOGIN_FAILURES_PER_ACCOUNT) and its client address
(STEWARD_LOGIN_FAILURES_PER_ADDRESS) in any STEWARD_LOGIN_WINDOW_SECONDS. While either budget is
spent a login POST gets the login page with a 429 and Retry-After, the right password included, so
guessing on stops; once the window has passed the account works again. A successful login counts
nothing.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

import redis
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from console.kernel.auth import api_key_of

__all__ = ["LIMITED", "LOGIN_VIEWS", "RateLimitMiddleware", "clear", "hit", "login_wait", "record_login_failure"]

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60.0
KEY_PREFIX = "steward:ratelimit:"

# URL name (console/urls.py, the API's operation names) → which budget a POST to it spends.
LIMITED: dict[str, str] = {
    # API
    "api:create_run": "start",
    "api:post_replay": "start",
    "api:post_retry": "start",
    "api:retry_dead_letter": "start",
    # Queues up to a batch of replays with live model calls.
    "api:start_regression": "start",
    "api:post_decision": "decide",
    "api:post_bulk_decision": "decide",
    # Pages
    "run_start": "start",
    "run_replay": "start",
    "run_retry": "start",
    "replay_failed": "start",
    "dead_letter_retry": "start",
    "promotion_regression": "start",
    # Calls the prompt's model, like a run's first step.
    "prompt_playground": "start",
    "approval_decide": "decide",
    "approval_bulk": "decide",
    "approval_link": "decide",
}

WHAT = {"start": "run starts", "decide": "decisions"}

# URL names of the views that check a password: POSTs to them are refused while a login budget is spent.
LOGIN_VIEWS = frozenset({"login", "admin:login"})

# Atomic in Redis: drop entries older than the window, count, add this one if under the limit
# (unless ARGV[4] is '0': only looking), else say when the oldest entry leaves the window.
# Redis's clock, so machines need not agree.
_SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  if ARGV[4] == '1' then
    redis.call('ZADD', KEYS[1], now, ARGV[3])
    redis.call('EXPIRE', KEYS[1], math.ceil(window))
  end
  return '0'
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tostring(tonumber(oldest[2]) + window - now)
"""


def _redis_url() -> str:
    url = settings.CHANNEL_LAYER_URL or settings.CELERY_BROKER_URL
    return url if url.startswith(("redis://", "rediss://")) else ""


class _Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local: dict[str, deque[float]] = {}
        self._redis: Any = None
        self._redis_url = ""
        self._script: Any = None

    def _client(self, url: str) -> Any:
        if self._redis is None or self._redis_url != url:

            # Short timeouts: a slow Redis must not hold up every start and decision.
            self._redis = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
            self._redis_url = url
            self._script = self._redis.register_script(_SLIDING_WINDOW)
        return self._redis

    def hit(self, key: str, limit: int, window: float = WINDOW_SECONDS, count: bool = True) -> float:
        """Count one request under `key` (or, with count=False, only look); 0 if allowed, else
        the seconds until one would be."""
        url = _redis_url()
        if url:
            try:
                self._client(url)
                return float(
                    self._script(
                        keys=[KEY_PREFIX + key], args=[window, limit, uuid.uuid4().hex, "1" if count else "0"]
                    )
                )
            except Exception:
                log.warning("rate limit not checked: Redis failed", exc_info=True)
                return 0.0
        now = time.monotonic()
        with self._lock:
            entries = self._local.setdefault(key, deque())
            while entries and entries[0] <= now - window:
                entries.popleft()
            if len(entries) < limit:
                if count:
                    entries.append(now)
                return 0.0
            return entries[0] + window - now

    def clear(self) -> None:
        with self._lock:
            self._local.clear()
        url = _redis_url()
        if url:
            client = self._client(url)
            keys = list(client.scan_iter(match=KEY_PREFIX + "*", count=1000))
            if keys:
                client.delete(*keys)


_counters = _Counters()


def hit(kind: str, user_id: int, limit: int) -> float:
    """Count a `kind` request by the user: 0 when allowed, else the seconds to wait."""
    return _counters.hit(f"{kind}:{user_id}", limit)


def clear() -> None:
    """Forget every count (tests start from nothing; an operator can lift a block at once)."""
    _counters.clear()


# --- logins ---------------------------------------------------------------------------------


def _login_budgets(request: HttpRequest, username: str) -> list[tuple[str, int]]:
    """(counter key, limit) of each login budget this attempt spends; a limit of 0 is off."""
    # Hashed: the username is whatever the form was sent, of any length.
    account = hashlib.sha256(username.strip().lower().encode()).hexdigest()
    # The peer's address. Behind a proxy that is the proxy's (docs/production.md, "Login throttling").
    address = request.META.get("REMOTE_ADDR") or "unknown"
    budgets = [
        (f"login-account:{account}", settings.STEWARD_LOGIN_FAILURES_PER_ACCOUNT),
        (f"login-address:{address}", settings.STEWARD_LOGIN_FAILURES_PER_ADDRESS),
    ]
    return [(key, limit) for key, limit in budgets if limit > 0]


def login_wait(request: HttpRequest, username: str) -> float:
    """0 when a login attempt may be checked, else the seconds until both budgets allow one."""
    window = float(settings.STEWARD_LOGIN_WINDOW_SECONDS)
    waits = [_counters.hit(key, limit, window, count=False) for key, limit in _login_budgets(request, username)]
    return max(waits, default=0.0)


def record_login_failure(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **_: Any) -> None:
    """The `user_login_failed` receiver: the failure counts against its account and address.
    Without a request (a script calling authenticate()) there is nobody at a login page to slow."""
    if request is None:
        return
    window = float(settings.STEWARD_LOGIN_WINDOW_SECONDS)
    for key, limit in _login_budgets(request, str(credentials.get("username", ""))):
        _counters.hit(key, limit, window)


def _login_refusal(request: HttpRequest, wait: float) -> HttpResponse:

    seconds = max(1, math.ceil(wait))
    detail = f"Too many failed logins for this account or from this address: try again in {seconds} s."
    username = request.POST.get("username", "")
    context = {
        "form": AuthenticationForm(request, initial={"username": username}),
        "next": request.POST.get("next") or request.GET.get("next", ""),
        "throttled": detail,
    }
    response = render(request, "registration/login.html", context, status=429)
    response["Retry-After"] = str(seconds)
    return response


def _user_id(request: HttpRequest) -> int | None:
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if request.path.startswith("/api/") and scheme.lower() == "bearer" and raw.strip():

        # Like the API (console/kernel/auth.py), the key before the session; looked up once for
        # both. Its use is recorded by the view's authentication, not here.
        key = api_key_of(request, raw.strip())
        return None if key is None else int(key.user_id)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return int(user.pk)
    return None


def _refusal(request: HttpRequest, kind: str, limit: int, wait: float) -> HttpResponse:
    seconds = max(1, math.ceil(wait))
    detail = f"too many {WHAT[kind]}: at most {limit} a minute; try again in {seconds} s"
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": detail}, status=429)
    else:
        template = (
            "console/partials/_rate_limited.html"
            if request.headers.get("HX-Request")
            else "console/rate_limited.html"
        )
        response = render(request, template, {"detail": detail, "seconds": seconds}, status=429)
    response["Retry-After"] = str(seconds)
    return response


class RateLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        if request.method != "POST":
            return None
        match = request.resolver_match
        if match and match.view_name in LOGIN_VIEWS:
            # Refused before the password is checked: while a budget is spent no guess is tried.
            wait = login_wait(request, request.POST.get("username", ""))
            return _login_refusal(request, wait) if wait > 0 else None
        kind = LIMITED.get(match.view_name) if match else None
        limit = settings.STEWARD_RATE_LIMIT_PER_MINUTE
        if kind is None or limit <= 0:
            return None
        user_id = _user_id(request)
        if user_id is None:
            return None
        wait = hit(kind, user_id, limit)
        return _refusal(request, kind, limit, wait) if wait > 0 else None
