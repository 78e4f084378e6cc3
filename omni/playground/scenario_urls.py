"""Scenario pages (``/o/<slug>/scenarios/…``) and ``POST /api/test/scenarios``; included by
``playground/urls.py`` into the ``playground`` namespace."""

from django.urls import path

from omni.playground import scenario_views
from omni.playground.scenario_api import ScenarioTestView

ORG = "o/<slug:slug>"

urlpatterns = [
    path(f"{ORG}/scenarios/", scenario_views.scenario_list, name="scenarios"),
    path(f"{ORG}/scenarios/run/", scenario_views.scenario_run, name="scenario_run"),
    path(f"{ORG}/scenarios/upload/", scenario_views.scenario_upload, name="scenario_upload"),
    path(
        f"{ORG}/scenarios/<uuid:scenario_id>/delete/", scenario_views.scenario_delete, name="scenario_delete"
    ),
    path(
        f"{ORG}/scenarios/runs/<uuid:run_id>/", scenario_views.scenario_run_detail, name="scenario_run_detail"
    ),
    path("api/test/scenarios", ScenarioTestView.as_view(), name="api-test-scenarios"),
]
