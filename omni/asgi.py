"""ASGI entry point: Django for the UI and APIs, the MCP gateway for /mcp, /sse and /messages/."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omni.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_app = get_asgi_application()

from omni.gateway.asgi import GatewayRouter  # noqa: E402

application = GatewayRouter(django_app)
