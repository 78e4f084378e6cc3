"""Access-rule pages (``/o/<slug>/access/``), included from ``omni/urls.py``."""

from django.urls import path

from omni.registry import access_views

app_name = "access"

urlpatterns = [
    path("o/<slug:slug>/access/", access_views.rule_list, name="rules"),
    path("o/<slug:slug>/access/<uuid:rule_id>/delete/", access_views.rule_delete, name="rule_delete"),
]
