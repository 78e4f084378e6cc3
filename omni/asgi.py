"""ASGI entry point: Django for the UI and APIs, the MCP gateway for /mcp, /sse and /messages/, and
Channels websockets (the playground's /ws/playground/<slug>/)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omni.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from omni.gateway.asgi import GatewayRouter  # noqa: E402
from omni.playground.routing import websocket_urlpatterns  # noqa: E402

gateway = GatewayRouter(django_app)
application = ProtocolTypeRouter(
    {
        "http": gateway,
        "lifespan": gateway,  # GatewayRouter answers lifespan (daphne sends none)
        # /ws/playground/<slug>/: the session user, and the Origin must be one of ALLOWED_HOSTS.
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
