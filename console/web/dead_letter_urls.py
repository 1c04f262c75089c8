"""The dead-letter page and its actions (console/web/dead_letter_views.py)."""

from django.urls import path

from console.web import dead_letter_views

urlpatterns = [
    path("", dead_letter_views.dead_letter_list, name="dead_letter_list"),
    path("<uuid:letter_id>/retry", dead_letter_views.dead_letter_retry, name="dead_letter_retry"),
    path("<uuid:letter_id>/dismiss", dead_letter_views.dead_letter_dismiss, name="dead_letter_dismiss"),
]
