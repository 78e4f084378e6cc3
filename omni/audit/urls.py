"""Audit log UI: ``/o/<slug>/audit/`` (owners, admins) and ``/audit/`` (global events, superusers)."""

from django.urls import path

from omni.audit import views

app_name = "audit"

ORG = "o/<slug:slug>/audit"

urlpatterns = [
    path(f"{ORG}/", views.org_log, name="log"),
    path(f"{ORG}/settings/", views.org_settings, name="settings"),
    path(f"{ORG}/export.<str:fmt>", views.org_export, name="export"),
    path(f"{ORG}/<uuid:event_id>/", views.org_event, name="event"),
    path("audit/", views.global_log, name="global_log"),
    path("audit/export.<str:fmt>", views.global_export, name="global_export"),
    path("audit/<uuid:event_id>/", views.global_event, name="global_event"),
]
