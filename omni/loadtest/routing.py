"""Websocket URLs of the load tester (mounted by ``omni/asgi.py``): the live run page's feed.

Wrapped in the playground's ``SameOriginMiddleware`` like every websocket of the site.
"""

from django.urls import path

from omni.loadtest.consumers import LoadRunConsumer
from omni.playground.origin import SameOriginMiddleware

websocket_urlpatterns = [
    path("ws/loadtests/<slug:slug>/runs/<uuid:run>/", SameOriginMiddleware(LoadRunConsumer.as_asgi())),
]
