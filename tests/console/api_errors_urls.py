"""A URL configuration for tests only: Steward's own URLs plus two views under /api/ that fail the
way a bug or an outage would, so the API's error answers can be checked without faking the
middleware that shapes them."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from console.urls import urlpatterns as steward_urlpatterns


def raises(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug in a view")


def unavailable(request: HttpRequest) -> HttpResponse:
    # What a proxy-style HTML error page looks like when a view answers one itself.
    return HttpResponse("<h1>Service Unavailable</h1>", status=503, content_type="text/html")


urlpatterns = [
    path("api/test-only/raises", raises),
    path("api/test-only/unavailable", unavailable),
    *steward_urlpatterns,
]
