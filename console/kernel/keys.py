"""API key pages: create (shown once), list and revoke your keys; admins see everyone's."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from console.kernel.models import EXPIRY_DAYS_MAX, EXPIRY_DAYS_MIN, ApiKey
from console.kernel.roles import is_admin


class AuthenticatedHttpRequest(HttpRequest):
    """The request of a login_required view: never an anonymous user."""

    user: User


def _keys_for(request: AuthenticatedHttpRequest) -> list[ApiKey]:
    keys = ApiKey.objects.select_related("user").order_by("-created_at")
    if not is_admin(request.user):
        keys = keys.filter(user=request.user)
    return list(keys[:500])


@login_required
@require_http_methods(["GET", "POST"])
def key_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    new_key = None
    error = ""
    if request.method == "POST":
        name = request.POST.get("name", "").strip()[:100]
        days_raw = request.POST.get("expires_in_days", "").strip()
        days = None
        if days_raw:
            if not days_raw.isdigit() or not EXPIRY_DAYS_MIN <= int(days_raw) <= EXPIRY_DAYS_MAX:
                error = (
                    f"Expiry must be a whole number of days between {EXPIRY_DAYS_MIN} and "
                    f"{EXPIRY_DAYS_MAX}, or empty for none."
                )
            else:
                days = int(days_raw)
        if not error:
            _, new_key = ApiKey.issue(request.user, name=name, expires_in_days=days)
    return render(
        request,
        "console/keys.html",
        {"keys": _keys_for(request), "new_key": new_key, "error": error, "show_owner": is_admin(request.user)},
        status=422 if error else 200,
    )


@login_required
@require_POST
def key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    key = ApiKey.objects.filter(id=key_id).first()
    if key is None or (key.user_id != request.user.pk and not is_admin(request.user)):
        raise Http404("no such key")
    key.revoke()
    messages.success(request, f"Key {key.prefix}… revoked.")
    return redirect("key_list")
