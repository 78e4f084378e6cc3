"""Quotas of the gateway's stateful resources, per API key and per organization.

``settings.MCP_QUOTA_DEFAULTS`` holds the defaults (env ``MCP_QUOTA_*``); an organization may
override any of them in ``Organization.settings["quotas"]``, the way rate limits are overridden in
``Organization.settings["rate_limits"]`` (``omni.security.ratelimit.limit_for``):

* ``sessions_per_key`` / ``sessions_per_org``: live MCP sessions (handshake revisions, ``/sse``).
* ``streams_per_key`` / ``streams_per_org``: open long-lived streams (GET ``/mcp``, ``/sse``,
  ``subscriptions/listen``).
* ``history_bytes_per_session``: bytes of replayable request-stream history a session may hold
  (responses not yet delivered, or delivered ones still kept for ``MCP_DELIVERED_STREAM_SECONDS``).

A refusal is HTTP 429 with a JSON-RPC error body naming the quota (an MCP error for
``subscriptions/listen``) and is audited as ``quota.refused``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

QUOTA_NAMES: tuple[str, ...] = (
    "sessions_per_key",
    "sessions_per_org",
    "streams_per_key",
    "streams_per_org",
    "history_bytes_per_session",
)
QUOTA_EXCEEDED = -32014


def validate_quotas(value: Any) -> list[str]:
    """What is wrong with an ``Organization.settings["quotas"]`` value (empty when valid)."""
    if value is None:
        return []
    if not isinstance(value, dict):
        return ["quotas must be an object of name → limit"]
    errors = []
    for name, limit in value.items():
        if name not in QUOTA_NAMES:
            errors.append(f"unknown quota {name!r}; known: {', '.join(QUOTA_NAMES)}")
        elif isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1 << 40:
            errors.append(f"{name} must be a positive whole number")
    return errors


def quota_for(org: Any, name: str) -> int:
    """The limit ``name`` for ``org`` (an ``Organization``, or None for the default)."""
    if name not in QUOTA_NAMES:
        raise ValueError(f"unknown quota {name!r}")
    raw = getattr(org, "settings", None)
    overrides = raw.get("quotas") if isinstance(raw, dict) else None
    if isinstance(overrides, dict):
        value = overrides.get(name)
        if value is not None and not validate_quotas({name: value}):
            return value
    return int(settings.MCP_QUOTA_DEFAULTS[name])


def describe(name: str, limit: int) -> str:
    """The refusal message: ``Too Many Requests: the streams per key quota (20) is reached``."""
    return f"Too Many Requests: the {name.replace('_', ' ')} quota ({limit}) is reached"


async def refuse(send: Any, ctx: Any, name: str, limit: int, path: str, body: bytes = b"") -> None:
    """Answer 429 with a JSON-RPC error body naming the quota, audit and observe the refusal
    (``body``: the refused request's, when it was read)."""
    from omni.gateway import observing
    from omni.gateway.http import json_error
    from omni.gateway.recording import record_later

    record_later("quota.refused", ctx=ctx, data={"quota": name, "limit": limit, "path": path})
    observing.refused(ctx, "quota", body, detail=name)
    await json_error(
        send, 429, describe(name, limit), code=QUOTA_EXCEEDED, data={"quota": name, "limit": limit}
    )


async def check_new_session(backend: Any, ctx: Any, send: Any, path: str, body: bytes = b"") -> bool:
    """Room for one more session of ``ctx``'s key and organization? Answers the refusal itself."""
    per_key, per_org = await backend.live_sessions(ctx.credential_id, ctx.org_id)
    for name, count in (("sessions_per_key", per_key), ("sessions_per_org", per_org)):
        limit = quota_for(ctx.organization, name)
        if count >= limit:
            await refuse(send, ctx, name, limit, path, body)
            return False
    return True


def stream_limits(ctx: Any) -> tuple[int, int]:
    return quota_for(ctx.organization, "streams_per_key"), quota_for(ctx.organization, "streams_per_org")
