from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from agents.web import views as run_views
from approvals import link_views
from approvals import views as approval_views
from console.kernel import keys
from console.web import dashboard_views, metrics
from console.web import health as views
from console.web.api import api
from traces.inspection import replay_views

# A database refusal raised in a middleware is a 503 too (console/kernel/database_busy.py).
handler500 = "console.kernel.database_busy.server_error"

urlpatterns = [
    path("", dashboard_views.dashboard, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("runs/", run_views.run_list, name="run_list"),
    path("", include("traces.inspection.inspect_urls")),
    path("", include("traces.inspection.urls")),
    path("runs/<uuid:run_id>/", run_views.run_detail, name="run_detail"),
    path("runs/<uuid:run_id>/cancel", run_views.run_cancel, name="run_cancel"),
    path("runs/<uuid:run_id>/spans", run_views.run_spans, name="run_spans"),
    path("runs/<uuid:run_id>/replay", replay_views.run_replay, name="run_replay"),
    path("runs/<uuid:run_id>/retry", replay_views.run_retry, name="run_retry"),
    path("runs/<uuid:run_id>/spans/<int:seq>/", run_views.span_detail, name="span_detail"),
    path("runs/<uuid:run_id>/spans/<int:seq>/<str:part>.json", run_views.span_payload, name="span_payload"),
    path("agents/<slug:agent_key>/start", run_views.run_start, name="run_start"),
    path("approvals/", approval_views.approval_list, name="approval_list"),
    # One-time approve/reject links from emails: a confirmation page, never a decision on GET.
    path("approvals/link/<str:token>/", link_views.confirm_link, name="approval_link"),
    path("approvals/<uuid:approval_id>/", approval_views.approval_detail, name="approval_detail"),
    path("approvals/<uuid:approval_id>/decide", approval_views.approval_decide, name="approval_decide"),
    path("approvals/<uuid:approval_id>/release", approval_views.approval_release, name="approval_release"),
    path("approvals/<uuid:approval_id>/reassign", approval_views.approval_reassign, name="approval_reassign"),
    path("approvals/next", approval_views.approval_next, name="approval_next"),
    path("approvals/bulk", approval_views.approval_bulk, name="approval_bulk"),
    path("", include("agents.prompt_admin.regression_urls")),
    # Queue management and analytics pages (approvals/queue_urls.py).
    path("queues/", include("approvals.queue_urls")),
    path("prompts/", include("agents.prompt_admin.urls")),
    # Runs that failed after every retry and fallback (console/web/dead_letter_urls.py).
    path("dead-letters/", include("console.web.dead_letter_urls")),
    path("keys/", keys.key_list, name="key_list"),
    path("keys/<int:key_id>/revoke", keys.key_revoke, name="key_revoke"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("api/", api.urls),
    # The LangGraph SDK's API (docs/langgraph-api.md).
    path("langgraph/", include("console.langgraph_api.urls")),
    path("admin/", admin.site.urls),
]
