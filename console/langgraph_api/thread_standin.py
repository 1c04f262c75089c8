"""A stand-in for `POST /threads` so the streaming endpoints can be driven by the SDKs on their
own: it names a new thread and stores nothing (a Steward thread exists once a run uses it).
console/langgraph_api/threads.py replaces it: mount its urls before streaming_urls and delete
this module."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from console.kernel.errors import StewardError
from console.langgraph_api.auth import WRITE, authenticate


@csrf_exempt
@require_POST
def create_thread(request: HttpRequest) -> JsonResponse:
    try:
        authenticate(request, WRITE)
    except StewardError as exc:
        return JsonResponse({"detail": exc.detail}, status=exc.status)
    now = timezone.now().isoformat()
    thread: dict[str, Any] = {
        "thread_id": str(uuid.uuid4()),
        "created_at": now,
        "updated_at": now,
        "metadata": {},
        "status": "idle",
        "values": None,
        "interrupts": {},
    }
    return JsonResponse(thread)


urlpatterns = [path("threads", create_thread, name="langgraph_thread_create_standin")]
