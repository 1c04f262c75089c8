"""The LangGraph SDK's streaming routes, mounted under /langgraph/ (console/urls.py)."""

from __future__ import annotations

from django.urls import path

from console.langgraph_api import streaming

urlpatterns = [
    path(
        "threads/<str:thread_id>/runs/stream", streaming.thread_run_stream, name="langgraph_thread_run_stream"
    ),
    path("runs/stream", streaming.stateless_run_stream, name="langgraph_run_stream"),
    path(
        "threads/<str:thread_id>/runs/<str:run_id>/stream",
        streaming.join_stream,
        name="langgraph_join_stream",
    ),
    # The SDK's newer thread endpoints: a clear 404 (console/langgraph_api/streaming.py).
    path("threads/<str:thread_id>/commands", streaming.not_implemented, name="langgraph_thread_commands"),
    path(
        "threads/<str:thread_id>/stream/events",
        streaming.not_implemented,
        name="langgraph_thread_stream_events",
    ),
]
