from django.urls import path

from omni.monitoring.metrics import views

urlpatterns = [
    path("metrics", views.metrics, name="metrics"),
]
