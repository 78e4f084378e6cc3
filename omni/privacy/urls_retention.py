"""The privacy page and its retention forms (``omni.privacy.retention.views``)."""

from django.urls import path

from omni.privacy.retention import views

urlpatterns = [
    path("o/<slug:slug>/privacy/", views.privacy, name="privacy"),
    path("o/<slug:slug>/privacy/retention/", views.retention_update, name="privacy_retention"),
    path("o/<slug:slug>/privacy/legal-hold/", views.legal_hold_update, name="privacy_legal_hold"),
]
