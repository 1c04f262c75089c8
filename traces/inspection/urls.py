"""Run inspection pages: export and import traces, feedback, threads, diffs and batch replays.

Included before "runs/<uuid:run_id>/" in console/urls.py, so /runs/import and /runs/feedback are theirs.
"""

from django.urls import path

from traces.inspection import batch_views, diff_views, views

urlpatterns = [
    path("runs/import", views.run_import, name="run_import"),
    path("runs/feedback", views.feedback_per_agent, name="feedback_per_agent"),
    path("runs/<uuid:run_id>/export", views.run_export, name="run_export"),
    path("runs/<uuid:run_id>/feedback", views.run_feedback, name="run_feedback"),
    path("runs/<uuid:a>/diff/<uuid:b>/", diff_views.run_diff, name="run_diff"),
    path("agents/<slug:agent_key>/replay-failed", batch_views.replay_failed_form, name="replay_failed"),
    path("replays/<uuid:batch_id>/", batch_views.replay_batch, name="replay_batch"),
    path("replays/<uuid:batch_id>/rows", batch_views.replay_batch_rows, name="replay_batch_rows"),
    path("threads/<path:thread_id>/", views.thread_detail, name="thread_detail"),
]
