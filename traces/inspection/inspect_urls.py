"""URLs of the run inspection pages (traces/inspection/inspect_views.py), included from console/urls.py."""

from __future__ import annotations

from django.urls import path, register_converter

from traces.inspection import inspect_views


class CheckpointIdConverter:
    """A LangGraph checkpoint id (a UUID v6 string): letters, digits, `-` and `_`, no dots."""

    regex = r"[0-9A-Za-z][0-9A-Za-z_\-]{0,99}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(CheckpointIdConverter, "checkpoint_id")

urlpatterns = [
    path("runs/<uuid:run_id>/graph", inspect_views.run_graph, name="run_graph"),
    path("runs/<uuid:run_id>/checkpoints", inspect_views.run_checkpoints, name="run_checkpoints"),
    path(
        "runs/<uuid:run_id>/checkpoints/<checkpoint_id:checkpoint_id>.json",
        inspect_views.checkpoint_json,
        name="run_checkpoint_json",
    ),
]
