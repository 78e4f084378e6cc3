"""The playground's REST API (mounted at ``/api/`` by ``omni/urls.py``)."""

from django.urls import path

from omni.playground.api.views import McpTestView

urlpatterns = [
    path("test/mcp", McpTestView.as_view(), name="api-test-mcp"),
]
