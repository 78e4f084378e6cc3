from django.urls import include, path

from omni.monitoring import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("", include("omni.monitoring.urls_usage")),
]
