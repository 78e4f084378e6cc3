"""URLs served by Django. /mcp, /sse and /messages/ are served beside Django in omni/asgi.py."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

urlpatterns = [
    # /healthz (liveness) and /readyz (readiness): omni/monitoring.
    path("", include("omni.monitoring.urls")),
    path("admin/", admin.site.urls),
    path("api/auth/", include("omni.tenants.auth.urls")),
    path("", include("omni.registry.access_urls")),
    path("", include("omni.tenants.urls")),
    path("", include("omni.registry.urls")),
    path("", include("omni.audit.urls")),
    path("", include("omni.playground.urls")),
    path("", include("omni.privacy.urls")),
    path("", include("omni.loadtest.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]
