"""The MCP rate-limit buckets, shared by every door to MCP operations.

``/mcp``, ``/sse`` and ``/messages/`` count one hit per HTTP request (``omni.gateway.asgi``). The
other doors — the playground websocket, ``POST /api/test/mcp``, scenario runs from the web UI and
the API, re-runs from the history — charge the very same counters with ``acharge_mcp`` (async) or
``charge_mcp`` (sync): one unit per operation (a batch of 20 costs 20), per credential (the API
key, or the signed-in user: ``OrgContext.credential_id``) and per organization
(``mcp_buckets``). So switching doors gets a client no extra budget. See docs/security.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from omni.security.ratelimit import WINDOW_SECONDS, acount_hits, check_cost, count_hits, limit_for

RATE_LIMITED_CODE = -32013  # the JSON-RPC error code of a refusal (as the gateway answers on /mcp)


@dataclass(frozen=True)
class McpRefusal:
    """An operation refused because one of the MCP buckets is empty."""

    limit: str  # the limit's name, e.g. "mcp_per_org_per_minute"
    allowed: int  # its value (operations per minute)
    retry_after: int  # seconds until the window resets (at least 1)
    door: str  # where the operation came in: "websocket", "api", "scenario", "rerun"

    @property
    def message(self) -> str:
        return (
            f"Too Many Requests: the {self.limit.replace('_', ' ')} limit ({self.allowed}) is reached; "
            f"retry after {self.retry_after}s"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "detail": self.message,
            "code": "rate_limited",
            "limit": self.limit,
            "retry_after": self.retry_after,
        }


class McpRateLimited(Exception):
    """Raised by services that charge the MCP buckets themselves (``refusal`` says which)."""

    def __init__(self, refusal: McpRefusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


def mcp_buckets(ctx: Any) -> list[tuple[str, str]]:
    """The (counter key, limit name) pairs that an MCP operation of ``ctx`` draws from: exactly the
    keys of the gateway's ``/mcp``, ``/sse`` and ``/messages/`` (``omni.gateway.asgi``), so every
    door empties the same buckets. The credential is the API key, or for the web doors the
    signed-in user (``OrgContext.credential_id``)."""
    return [
        (f"mcp:key:{ctx.credential_id}", "mcp_per_key_per_minute"),
        (f"mcp:org:{ctx.org_id}", "mcp_per_org_per_minute"),
    ]


def _refusal(ctx: Any, name: str, total: int, retry_after: int, door: str) -> McpRefusal | None:
    limit = limit_for(ctx.organization, name)
    if total <= limit:
        return None
    return McpRefusal(name, limit, max(1, retry_after), door)


def _hit_details(refusal: McpRefusal, cost: int) -> dict[str, Any]:
    return {"limit": refusal.limit, "door": refusal.door, "cost": cost, "retry_after": refusal.retry_after}


async def acharge_mcp(ctx: Any, cost: int = 1, *, door: str) -> McpRefusal | None:
    """Charge ``cost`` operations of ``ctx`` to its MCP buckets; the refusal when one is empty.

    The per-credential bucket is charged first, then the organization's (a refusal by the first
    leaves the second untouched, as on ``/mcp``). A refused charge still counts, like a refused
    ``/mcp`` request. The charge that first goes over a limit in a window is audited
    (``ratelimit.hit``): once per bucket and window, not once per refused message.
    """
    check_cost(cost)
    if not getattr(settings, "RATELIMIT_ENABLE", True):
        return None
    for key, name in mcp_buckets(ctx):
        total, retry_after = await acount_hits(key, WINDOW_SECONDS, cost)
        refusal = _refusal(ctx, name, total, retry_after, door)
        if refusal is not None:
            if total - cost <= refusal.allowed:
                from omni.audit.services import arecord

                await arecord("ratelimit.hit", ctx=ctx, data=_hit_details(refusal, cost))
            return refusal
    return None


def charge_mcp(ctx: Any, cost: int = 1, *, door: str) -> McpRefusal | None:
    """``acharge_mcp`` for synchronous code (views): same buckets, same audit."""
    check_cost(cost)
    if not getattr(settings, "RATELIMIT_ENABLE", True):
        return None
    for key, name in mcp_buckets(ctx):
        total, retry_after = count_hits(key, WINDOW_SECONDS, cost)
        refusal = _refusal(ctx, name, total, retry_after, door)
        if refusal is not None:
            if total - cost <= refusal.allowed:
                from omni.audit.services import record

                record("ratelimit.hit", ctx=ctx, data=_hit_details(refusal, cost))
            return refusal
    return None
