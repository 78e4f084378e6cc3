"""URLs of data-subject rights (``omni.privacy.subjects.views``)."""

from django.urls import path

from omni.privacy.subjects import views

urlpatterns = [
    path("account/", views.account, name="account"),
    path("account/export/", views.account_export, name="account_export"),
    path("account/erase/", views.account_erase, name="account_erase"),
    path("account/requests/<uuid:public_id>/cancel/", views.account_cancel, name="account_cancel"),
    path("account/download/<str:token>/", views.download, name="download"),
    path("privacy/requests/", views.all_requests, name="all_requests"),
    path("o/<slug:slug>/privacy/requests/", views.org_requests, name="org_requests"),
    path("o/<slug:slug>/privacy/requests/export/", views.org_export, name="org_export"),
    path("o/<slug:slug>/privacy/requests/delete/", views.org_delete, name="org_delete"),
    path("o/<slug:slug>/privacy/requests/<uuid:public_id>/cancel/", views.org_cancel, name="org_cancel"),
]
