"""Queue management (admins) and per-queue analytics (reviewers): /queues/..."""

from django.urls import URLPattern, path

from approvals import queue_views

urlpatterns: list[URLPattern] = [
    path("", queue_views.queue_list, name="queue_list"),
    path("new", queue_views.queue_create, name="queue_create"),
    path("<slug:name>/edit", queue_views.queue_edit, name="queue_edit"),
    path("<slug:name>/analytics", queue_views.queue_analytics, name="queue_analytics"),
    path("<slug:name>/webhooks/", queue_views.webhook_list, name="webhook_list"),
    path("<slug:name>/webhooks/<int:webhook_id>/", queue_views.webhook_detail, name="webhook_detail"),
    path("<slug:name>/webhooks/<int:webhook_id>/toggle", queue_views.webhook_toggle, name="webhook_toggle"),
    path(
        "<slug:name>/webhooks/<int:webhook_id>/rotate-secret",
        queue_views.webhook_rotate_secret,
        name="webhook_rotate_secret",
    ),
    path(
        "<slug:name>/webhooks/<int:webhook_id>/redeliver/<uuid:delivery_id>",
        queue_views.webhook_redeliver,
        name="webhook_redeliver",
    ),
]
