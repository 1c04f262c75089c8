"""The prompt pages, mounted under /prompts/ (console/urls.py)."""

from django.urls import path

from agents.prompt_admin import views as prompt_views

urlpatterns = [
    path("", prompt_views.prompt_list, name="prompt_list"),
    path("new", prompt_views.prompt_new, name="prompt_new"),
    # The editor's live check; a prompt named "validate" still has its page at validate/.
    path("validate", prompt_views.prompt_validate, name="prompt_validate"),
    path("<slug:name>/", prompt_views.prompt_detail, name="prompt_detail"),
    path("<slug:name>/versions/<int:number>/", prompt_views.prompt_version, name="prompt_version"),
    path("<slug:name>/edit", prompt_views.prompt_edit, name="prompt_edit"),
    path("<slug:name>/labels", prompt_views.prompt_move_label, name="prompt_move_label"),
    path("<slug:name>/diff", prompt_views.prompt_diff, name="prompt_diff"),
    path("<slug:name>/playground", prompt_views.prompt_playground, name="prompt_playground"),
]
