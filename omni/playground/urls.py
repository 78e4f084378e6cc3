"""Playground pages (``/o/<slug>/playground|history|analytics/``) and its API (``/api/test/mcp``)."""

from django.urls import include, path

from omni.playground import scenario_urls, views

app_name = "playground"

ORG = "o/<slug:slug>"

urlpatterns = [
    path(f"{ORG}/playground/", views.playground, name="playground"),
    path(f"{ORG}/history/", views.history, name="history"),
    path(f"{ORG}/history/diff/", views.run_diff, name="diff"),
    path(f"{ORG}/history/<uuid:run_id>/", views.run_detail, name="run"),
    path(f"{ORG}/history/<uuid:run_id>/rerun/", views.run_rerun, name="rerun"),
    path(f"{ORG}/analytics/", views.analytics, name="analytics"),
    path("api/", include("omni.playground.api.urls")),
    *scenario_urls.urlpatterns,  # /o/<slug>/scenarios/… and /api/test/scenarios
]
