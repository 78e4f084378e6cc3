"""Websocket URLs of the playground (mounted by ``omni/asgi.py``)."""

from django.urls import path

from omni.playground.consumers import PlaygroundConsumer

websocket_urlpatterns = [
    path("ws/playground/<slug:slug>/", PlaygroundConsumer.as_asgi()),
]
