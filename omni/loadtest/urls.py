"""URLs of the load tester (pages under /o/<slug>/loadtests/, the live run websocket in routing)."""

from django.urls import path  # noqa: F401

app_name = "loadtest"
urlpatterns: list = []
