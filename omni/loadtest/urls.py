"""URLs of the load tester: pages under ``/o/<slug>/loadtests/`` (the live run websocket is in
``routing.py``)."""

from django.urls import path

from omni.loadtest import views_profiles, views_reports, views_runs

app_name = "loadtest"

BASE = "o/<slug:slug>/loadtests"

urlpatterns = [
    path(f"{BASE}/", views_runs.run_list, name="runs"),
    path(f"{BASE}/start/", views_runs.run_start, name="start"),
    path(f"{BASE}/runs/<uuid:run>/", views_runs.run_detail, name="run"),
    path(f"{BASE}/runs/<uuid:run>/cancel/", views_runs.run_cancel, name="run_cancel"),
    path(f"{BASE}/runs/<uuid:run>/export.<str:fmt>", views_runs.run_export, name="run_export"),
    path(f"{BASE}/runs/<uuid:run>/baseline/", views_runs.run_save_baseline, name="run_baseline"),
    path(f"{BASE}/profiles/", views_profiles.profile_list, name="profiles"),
    path(f"{BASE}/profiles/new/", views_profiles.profile_create, name="profile_create"),
    path(f"{BASE}/profiles/<slug:profile>/", views_profiles.profile_detail, name="profile"),
    path(f"{BASE}/profiles/<slug:profile>/edit/", views_profiles.profile_edit, name="profile_edit"),
    path(f"{BASE}/profiles/<slug:profile>/delete/", views_profiles.profile_delete, name="profile_delete"),
    path(f"{BASE}/compare/", views_reports.compare, name="compare"),
    path(f"{BASE}/trend/", views_reports.trend, name="trend"),
    path(f"{BASE}/baselines/", views_reports.baselines, name="baselines"),
    path(f"{BASE}/baselines/<str:baseline>/delete/", views_reports.baseline_delete, name="baseline_delete"),
]
