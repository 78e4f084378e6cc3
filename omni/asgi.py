"""ASGI entry point: Django for the UI and APIs, the MCP gateway for /mcp, /sse and /messages/, and
Channels websockets (the playground's /ws/playground/<slug>/, the live load-test run page's
/ws/loadtests/<slug>/runs/<uuid>/).

The whole application is wrapped in ``ProcessLifecycle`` (omni/monitoring/shutdown.py): it counts
requests in flight and drains the process on SIGTERM or the ASGI lifespan shutdown, under granian,
uvicorn and daphne alike."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omni.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from omni.gateway.asgi import GatewayRouter  # noqa: E402
from omni.loadtest.routing import websocket_urlpatterns as loadtest_websockets  # noqa: E402
from omni.monitoring.shutdown import ProcessLifecycle  # noqa: E402
from omni.playground.routing import websocket_urlpatterns  # noqa: E402

gateway = GatewayRouter(django_app)
application = ProcessLifecycle(
    ProtocolTypeRouter(
        {
            "http": gateway,
            "lifespan": gateway,  # GatewayRouter answers lifespan (daphne sends none)
            # /ws/playground/<slug>/, /ws/loadtests/<slug>/runs/<uuid>/: the session user, and the
            # Origin must be one of ALLOWED_HOSTS.
            "websocket": AllowedHostsOriginValidator(
                AuthMiddlewareStack(URLRouter([*websocket_urlpatterns, *loadtest_websockets]))
            ),
        }
    ),
    grace_seconds=settings.OMNI_SHUTDOWN_GRACE_SECONDS,
)
