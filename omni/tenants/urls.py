"""Tenants UI: ``/login/``, ``/logout/``, ``/`` and the organization pages under ``/o/<slug>/``."""

from django.contrib.auth import views as auth_views
from django.urls import path

from omni.tenants.views import home

app_name = "tenants"

urlpatterns = [
    path("", home.home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("o/<slug:slug>/", home.dashboard, name="dashboard"),
]
