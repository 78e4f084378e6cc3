from django.urls import path

from omni.monitoring.health import views

urlpatterns = [
    path("ops/health/", views.health_page, name="ops-health"),
    path("ops/health.json", views.HealthJson.as_view(), name="ops-health-json"),
]
