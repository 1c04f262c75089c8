from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from console import views
from console.api import api

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("api/", api.urls),
    path("admin/", admin.site.urls),
]
