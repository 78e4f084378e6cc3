from django.urls import include, path

from omni.monitoring import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("", include("omni.monitoring.urls_health")),
    path("", include("omni.monitoring.urls_metrics")),
    path("", include("omni.monitoring.urls_usage")),
]
urlpatterns += [path("", include("omni.monitoring.urls_alerts"))]  # alerts and incidents
