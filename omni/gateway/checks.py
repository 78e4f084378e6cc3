"""System checks for what an operator can get wrong about the gateway (stable ids omni.gateway.*)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.compatibility, deploy=False)
def check_gateway_settings(app_configs: Any = None, **kwargs: Any) -> list:
    messages: list = []
    engine = settings.DATABASES["default"]["ENGINE"]
    if not settings.REDIS_URL and "postgresql" in engine:
        messages.append(
            Warning(
                "DATABASE_URL is PostgreSQL but REDIS_URL is not set: MCP sessions, notifications and rate "
                "limits then live in one process's memory, so several web processes cannot share them.",
                hint="Set REDIS_URL (redis://host:6379/0) for the production shape.",
                id="omni.gateway.W001",
            )
        )
    for origin in settings.MCP_ALLOWED_ORIGINS:
        if origin.strip() in {"*", "http://*", "https://*"}:
            messages.append(
                Error(
                    f"MCP_ALLOWED_ORIGINS contains {origin!r}: any web page could drive /mcp from a "
                    "visitor's browser (DNS rebinding).",
                    hint="List the exact origins of browser clients, e.g. https://inspector.example.com.",
                    id="omni.gateway.E002",
                )
            )
    if settings.MCP_SESSION_IDLE_SECONDS < 60:
        messages.append(
            Warning(
                "MCP_SESSION_IDLE_SECONDS is under a minute: clients will lose their sessions between calls.",
                id="omni.gateway.W003",
            )
        )
    for target, path in settings.MCP_INPROCESS_SERVERS.items():
        if ":" not in path:
            messages.append(
                Error(
                    f"MCP_INPROCESS_SERVERS[{target!r}] = {path!r} is not 'module:factory'.",
                    id="omni.gateway.E004",
                )
            )
    return messages
