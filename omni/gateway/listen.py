"""``subscriptions/listen`` (2026-07-28): how sessionless clients hear that an organization's
tools, prompts or resources changed. The listen request's response is the stream; the handler
tails the organization's change feed and the global one in the shared store, so a change
published by any process reaches every listener."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import mcp_types as types
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

from omni.gateway.sessions import CHANGES_STREAM, change_feed, get_backend, parse_event_id

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
    feeds = [change_feed(org_ctx.org_id), change_feed(None)]
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

    async with anyio.create_task_group() as tg:
        for feed in feeds:
            tg.start_soon(tail, feed)
        async for kind in receive:
            event = EVENTS.get(kind)
            if event is not None and event_matches(honored, frozenset(), event):
                await ctx.session.send_notification(
                    event_to_notification(event, meta), related_request_id=subscription_id
                )
    return types.SubscriptionsListenResult(_meta=meta)
