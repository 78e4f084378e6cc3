"""``subscriptions/listen`` (2026-07-28): how sessionless clients hear that an organization's
tools, prompts or resources changed. The listen request's response is the stream; the handler
tails the organization's change feed and the global one in the shared store, so a change
published by any process reaches every listener."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import mcp_types as types
from django.conf import settings
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import (
    SUBSCRIPTION_ID_META_KEY,
    PromptsListChanged,
    ResourcesListChanged,
    ToolsListChanged,
    event_matches,
    event_to_notification,
)

from omni import lifecycle
from omni.gateway import quotas
from omni.gateway.recording import record_later
from omni.gateway.sessions import CHANGES_STREAM, change_feed, get_backend, parse_event_id
from omni.gateway.streams import StreamSlot

logger = logging.getLogger(__name__)

EVENTS = {"tools": ToolsListChanged(), "prompts": PromptsListChanged(), "resources": ResourcesListChanged()}
BLOCK_MS = 10_000


async def subscriptions_listen(
    ctx: ServerRequestContext[Any, Any], params: types.SubscriptionsListenRequestParams
) -> types.SubscriptionsListenResult:
    from omni.gateway.server import _org_context

    org_ctx = _org_context(ctx)
    subscription_id = ctx.request_id
    if subscription_id is None:
        raise MCPError(types.INVALID_REQUEST, "subscriptions/listen requires a request id")
    requested = params.notifications
    honored = types.SubscriptionFilter(
        tools_list_changed=True if requested.tools_list_changed else None,
        prompts_list_changed=True if requested.prompts_list_changed else None,
        resources_list_changed=True if requested.resources_list_changed else None,
        # Resources here are database rows or downstream ones; per-URI updates are not offered.
        resource_subscriptions=None,
    )
    meta: dict[str, Any] = {SUBSCRIPTION_ID_META_KEY: subscription_id}
    backend = get_backend()
    slot = StreamSlot(backend, org_ctx.credential_id, org_ctx.org_id)
    refused = await slot.acquire(quotas.stream_limits(org_ctx))
    if refused is not None:
        limit = quotas.quota_for(org_ctx.organization, refused)
        record_later("quota.refused", ctx=org_ctx, data={"quota": refused, "limit": limit, "path": "listen"})
        raise MCPError(
            quotas.QUOTA_EXCEEDED, quotas.describe(refused, limit), {"quota": refused, "limit": limit}
        )
    try:
        await _listen(ctx, backend, slot, org_ctx.org_id, honored, meta, subscription_id)
    except MCPError:
        raise
    except Exception as exc:
        # Redis down, a bug: the listen request ends with an error response (the client listens
        # again), never with an exception escaping the stream.
        logger.warning("subscriptions/listen %s ended: %r", subscription_id, exc)
        raise MCPError(types.INTERNAL_ERROR, "The change feed is unavailable; listen again") from exc
    finally:
        await slot.release()
    return types.SubscriptionsListenResult(_meta=meta)


async def _listen(
    ctx: ServerRequestContext[Any, Any],
    backend: Any,
    slot: StreamSlot,
    org_id: int,
    honored: types.SubscriptionFilter,
    meta: dict[str, Any],
    subscription_id: Any,
) -> None:
    """Tail the change feeds until the client goes away or the process drains (then the listen
    request ends with its result: a graceful close)."""
    feeds = [change_feed(org_id), change_feed(None)]
    # Mark the feeds' current ends before acknowledging, so nothing published after the ack is missed.
    positions = {}
    for feed in feeds:
        positions[feed] = parse_event_id(await backend.append(feed, CHANGES_STREAM, ""))[1]  # type: ignore[index]

    await ctx.session.send_notification(
        types.SubscriptionsAcknowledgedNotification(
            params=types.SubscriptionsAcknowledgedNotificationParams(notifications=honored, _meta=meta)
        ),
        related_request_id=subscription_id,
    )
    send, receive = anyio.create_memory_object_stream[str](100)

    async def tail(feed: str) -> None:
        after = positions[feed]
        while True:
            for event_id, kind in await backend.read(feed, CHANGES_STREAM, after, BLOCK_MS):
                after = parse_event_id(event_id)[1]  # type: ignore[index]
                if kind:
                    await send.send(kind)

    async def refresh_slot() -> None:
        while True:
            await anyio.sleep(settings.MCP_KEEPALIVE_SECONDS)
            await slot.refresh()

    async def until_draining(scope: anyio.CancelScope) -> None:
        await lifecycle.wait_draining()
        scope.cancel()

    async with anyio.create_task_group() as tg:
        for feed in feeds:
            tg.start_soon(tail, feed)
        tg.start_soon(refresh_slot)
        tg.start_soon(until_draining, tg.cancel_scope)
        async for kind in receive:
            event = EVENTS.get(kind)
            if event is not None and event_matches(honored, frozenset(), event):
                await ctx.session.send_notification(
                    event_to_notification(event, meta), related_request_id=subscription_id
                )
