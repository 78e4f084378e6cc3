"""Usage dashboards: ``/o/<slug>/usage/`` and ``/ops/usage/`` (``?fmt=csv`` for the CSV)."""

from django.urls import path

from omni.monitoring.usage import views

app_name = "usage"

urlpatterns = [
    path("o/<slug:slug>/usage/", views.org_usage, name="org"),
    path("ops/usage/", views.ops_usage, name="ops"),
]
