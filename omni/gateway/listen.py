"""``subscriptions/listen`` (2026-07-28): how sessionless clients hear that an organization's
tools, prompts or resources changed, and (``resourceSubscriptions``) that a resource changed. The
listen request's response is the stream; the handler tails the organization's change feed and the
global one in the shared store, so a change published by any process reaches every listener, and
the listener's own updates stream, which ``resource_updates.relay`` writes."""

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
    ResourceUpdated,
    ToolsListChanged,
    event_matches,
    event_to_notification,
)

from omni import lifecycle
from omni.gateway import quotas, resource_updates
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
        resource_subscriptions=None,  # set once the URIs are subscribed (_subscribe_uris)
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
    listener = resource_updates.new_listener_id()
    subscribed: list[tuple[str, str]] = []
    try:
        # Mark the updates stream's end before subscribing: no update after the ack is missed.
        updates_after = parse_event_id(await backend.append(listener, resource_updates.UPDATES_STREAM, ""))[1]  # type: ignore[index]
        if requested.resource_subscriptions:
            uris = await _subscribe_uris(org_ctx, listener, requested.resource_subscriptions, subscribed)
            honored.resource_subscriptions = uris
        await _listen(
            ctx, backend, slot, org_ctx.org_id, honored, meta, subscription_id, (listener, updates_after)
        )
    except MCPError:
        raise
    except Exception as exc:
        # Redis down, a bug: the listen request ends with an error response (the client listens
        # again), never with an exception escaping the stream.
        logger.warning("subscriptions/listen %s ended: %r", subscription_id, exc)
        raise MCPError(types.INTERNAL_ERROR, "The change feed is unavailable; listen again") from exc
    finally:
        with anyio.CancelScope(shield=True):
            await resource_updates.listen_ended(listener, subscribed)
            await slot.release()
    return types.SubscriptionsListenResult(_meta=meta)


async def _subscribe_uris(
    org_ctx: Any, listener: str, requested: list[str], subscribed: list[tuple[str, str]]
) -> list[str]:
    """Subscribe the listen stream to the requested URIs it may read and that can be watched (at
    most ``MCP_SUBSCRIPTIONS_PER_SESSION``): those are honored, the others left out of the ack."""
    from omni.gateway.catalogue import get_catalogue
    from omni.gateway.server import _checked_uri, _in_database, _serving_server

    catalogue = await get_catalogue(org_ctx.organization)
    honored: list[str] = []
    for uri in list(dict.fromkeys(requested))[: settings.MCP_SUBSCRIPTIONS_PER_SESSION]:
        try:
            _checked_uri(org_ctx, catalogue, uri)
            target = None if _in_database(catalogue, uri) else await _serving_server(org_ctx, catalogue, uri)
            if target is None and not _in_database(catalogue, uri):
                continue
            with anyio.fail_after(target.timeout if target is not None else 30.0):
                await resource_updates.listen_subscribe(listener, target, uri)
        except Exception as exc:  # unknown, hidden, or not watchable: not honored
            logger.info("listen: %s not subscribed: %r", uri[:200], exc)
            continue
        subscribed.append((target.key if target is not None else "", uri))
        honored.append(uri)
    return honored


async def _listen(
    ctx: ServerRequestContext[Any, Any],
    backend: Any,
    slot: StreamSlot,
    org_id: int,
    honored: types.SubscriptionFilter,
    meta: dict[str, Any],
    subscription_id: Any,
    updates: tuple[str, str],
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
    send, receive = anyio.create_memory_object_stream[Any](100)

    async def tail(feed: str) -> None:
        after = positions[feed]
        while True:
            for event_id, kind in await backend.read(feed, CHANGES_STREAM, after, BLOCK_MS):
                after = parse_event_id(event_id)[1]  # type: ignore[index]
                if kind:
                    await send.send(EVENTS.get(kind))

    async def tail_updates() -> None:
        listener, after = updates
        while True:
            for event_id, uri in await backend.read(
                listener, resource_updates.UPDATES_STREAM, after, BLOCK_MS
            ):
                after = parse_event_id(event_id)[1]  # type: ignore[index]
                if uri:
                    await send.send(ResourceUpdated(uri=uri))

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
        if honored.resource_subscriptions:
            tg.start_soon(tail_updates)
        tg.start_soon(refresh_slot)
        tg.start_soon(until_draining, tg.cancel_scope)
        uris = frozenset(honored.resource_subscriptions or ())
        async for event in receive:
            if event is not None and event_matches(honored, uris, event):
                await ctx.session.send_notification(
                    event_to_notification(event, meta), related_request_id=subscription_id
                )
