"""Run inspection pages: export and import traces, feedback, threads.

Included before "runs/<uuid:run_id>/" in console/urls.py, so /runs/import and /runs/feedback are theirs.
"""

from django.urls import path

from traces import views

urlpatterns = [
    path("runs/import", views.run_import, name="run_import"),
    path("runs/feedback", views.feedback_per_agent, name="feedback_per_agent"),
    path("runs/<uuid:run_id>/export", views.run_export, name="run_export"),
    path("runs/<uuid:run_id>/feedback", views.run_feedback, name="run_feedback"),
    path("threads/<path:thread_id>/", views.thread_detail, name="thread_detail"),
]
