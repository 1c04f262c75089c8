"""The routes of `/langgraph` (console/urls.py mounts them), as `langgraph_sdk` calls them."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, path, re_path
from django.views.decorators.csrf import csrf_exempt

from console.langgraph_api import assistants, runs, streaming_urls, threads
from console.langgraph_api.auth import ADMIN, READ, WRITE
from console.langgraph_api.http import route

T = "threads/<str:thread_id>"
R = f"{T}/runs/<str:run_id>"


@csrf_exempt
def not_here(request: HttpRequest, **route: str) -> JsonResponse:
    """Everything this API does not serve (the store, crons, bulk endpoints): a JSON 404."""
    return JsonResponse(
        {"detail": f"{request.path} is not served by Steward's LangGraph API (the store and crons are not implemented yet)"},
        status=404,
    )


urlpatterns: list[URLPattern] = [
    # Assistants: every agent is one.
    path("assistants", route(POST=(assistants.refuse_create, ADMIN))),
    path("assistants/search", route(POST=(assistants.search, READ))),
    path("assistants/count", route(POST=(assistants.count, READ))),
    path("assistants/<str:assistant_id>", route(
        GET=(assistants.get, READ), PATCH=(assistants.refuse_change, ADMIN), DELETE=(assistants.refuse_change, ADMIN),
    )),
    path("assistants/<str:assistant_id>/graph", route(GET=(assistants.graph, READ))),
    path("assistants/<str:assistant_id>/schemas", route(GET=(assistants.schemas, READ))),
    path("assistants/<str:assistant_id>/subgraphs", route(GET=(assistants.subgraphs, READ))),
    path("assistants/<str:assistant_id>/subgraphs/<str:namespace>", route(GET=(assistants.subgraphs, READ))),
    path("assistants/<str:assistant_id>/versions", route(POST=(assistants.versions, READ))),
    path("assistants/<str:assistant_id>/latest", route(POST=(assistants.refuse_latest, ADMIN))),
    # Threads.
    path("threads", route(POST=(threads.create, WRITE))),
    path("threads/search", route(POST=(threads.search, READ))),
    path("threads/count", route(POST=(threads.count, READ))),
    path(T, route(GET=(threads.get, READ), PATCH=(threads.update, WRITE), DELETE=(threads.delete, WRITE))),
    path(f"{T}/copy", route(POST=(threads.copy, WRITE))),
    path(f"{T}/state", route(GET=(threads.get_state, READ), POST=(threads.update_state, WRITE))),
    path(f"{T}/state/checkpoint", route(POST=(threads.state_at_checkpoint, READ))),
    path(f"{T}/state/<str:checkpoint_id>", route(GET=(threads.get_state, READ))),
    path(f"{T}/history", route(GET=(threads.history, READ), POST=(threads.history, READ))),
    # Runs. Creating one with a resume is a decision (READ, then approvals checks the caller);
    # with input it needs the role that starts runs (runs.py).
    path("runs", route(POST=(runs.create, READ))),
    path("runs/wait", route(POST=(runs.wait, READ))),
    path(f"{T}/runs", route(GET=(runs.list_runs, READ), POST=(runs.create, READ))),
    path(f"{T}/runs/wait", route(POST=(runs.wait, READ))),
    # Crons are not implemented: a clear 404, not a run named "crons".
    path(f"{T}/runs/crons", not_here),
    path(R, route(GET=(runs.get, READ), DELETE=(runs.delete, WRITE))),
    path(f"{R}/join", route(GET=(runs.join, READ))),
    path(f"{R}/cancel", route(POST=(runs.cancel, WRITE))),
]

# The SSE endpoints (console/langgraph_api/streaming_urls.py) go first: `runs/stream` would
# otherwise be read as a run id.
urlpatterns = list(streaming_urls.urlpatterns) + urlpatterns

urlpatterns.append(re_path(r"^(?P<rest>.*)$", not_here))
