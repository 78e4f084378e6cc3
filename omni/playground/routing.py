"""Websocket URLs of the playground (mounted by ``omni/asgi.py``).

Each consumer is wrapped in ``SameOriginMiddleware``: the Origin must be this site's own scheme,
host and port (``omni/asgi.py``'s channels validator compares the host only).
"""

from django.urls import path

from omni.playground.consumers import PlaygroundConsumer
from omni.playground.origin import SameOriginMiddleware

websocket_urlpatterns = [
    path("ws/playground/<slug:slug>/", SameOriginMiddleware(PlaygroundConsumer.as_asgi())),
]
