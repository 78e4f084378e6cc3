"""``resources/subscribe`` for handshake-era callers, and the relay of the servers' updates.

A gateway session's subscriptions are kept on the session itself (``attr_subscriptions``: a
bounded list of ``[server key, uri]``, ended with the session), and an index per server and URI
names the sessions that subscribed (a Redis set, or a dict without Redis). The downstream side is
the server connection's pooled client, held by this process while it watches (so it is not closed
as idle): the first subscription to a URI in a process subscribes it there (``resources/subscribe``
on the server), and the server's ``notifications/resources/updated`` for it is appended to the
standalone stream of every open session in the index — whichever process holds that stream
delivers it. The held client is
shared (also by organizations using a global server), so the fan-out is per gateway session: only
the sessions that subscribed (after the access rules allowed them the URI) hear an update.

A database resource (or a URI of a database template) can be subscribed too; no update is sent for
it (its changes arrive as ``notifications/resources/list_changed``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
import warnings
from dataclasses import dataclass, field
from typing import Any

import mcp_types as types
from django.conf import settings
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from omni.gateway import pool
from omni.gateway.sessions import GET_STREAM, SessionRecord, get_backend

logger = logging.getLogger(__name__)

ATTR = "subscriptions"
INDEX_PREFIX = "omni:mcp:rsub:"
INDEX_TTL = 7 * 24 * 3600  # refreshed by every subscription; dead sessions are pruned on relay


class SubscriptionRefused(Exception):
    """The subscription cannot be taken (a limit, or the server cannot notify)."""


@dataclass
class _Watch:
    pooled: pool.Pooled
    uris: set[str] = field(default_factory=set)


# (loop id, target key) -> the watch client of that server in this loop, and its lock.
_watches: dict[tuple[int, str], _Watch] = {}
_locks: dict[tuple[int, str], asyncio.Lock] = {}
# The index without Redis (the embedded default, one process).
_memory_index: dict[str, set[str]] = {}


def _index_key(server_key: str, uri: str) -> str:
    return INDEX_PREFIX + hashlib.sha256(f"{server_key}\x00{uri}".encode()).hexdigest()


def _redis() -> Any:
    from omni.gateway.redis_clients import async_client

    return async_client(settings.REDIS_URL) if settings.REDIS_URL else None


async def _index_add(server_key: str, uri: str, session_id: str) -> None:
    key = _index_key(server_key, uri)
    client = _redis()
    if client is None:
        _memory_index.setdefault(key, set()).add(session_id)
        return
    async with client.pipeline(transaction=False) as pipe:
        pipe.sadd(key, session_id)
        pipe.expire(key, INDEX_TTL)
        await pipe.execute()


async def _index_remove(server_key: str, uri: str, session_id: str) -> int:
    """Forget one subscriber; returns how many are left."""
    key = _index_key(server_key, uri)
    client = _redis()
    if client is None:
        members = _memory_index.get(key, set())
        members.discard(session_id)
        if not members:
            _memory_index.pop(key, None)
        return len(members)
    async with client.pipeline(transaction=False) as pipe:
        pipe.srem(key, session_id)
        pipe.scard(key)
        _removed, left = await pipe.execute()
    return int(left)


async def _index_members(server_key: str, uri: str) -> list[str]:
    key = _index_key(server_key, uri)
    client = _redis()
    if client is None:
        return sorted(_memory_index.get(key, ()))
    return sorted(await client.smembers(key))


async def subscriptions_of(session_id: str) -> list[list[str]]:
    raw = await get_backend().get_attr(session_id, ATTR)
    try:
        value = json.loads(raw) if raw else []
    except ValueError:
        return []
    return [item for item in value if isinstance(item, list) and len(item) == 2]


async def subscribe(record: SessionRecord, target: Any | None, uri: str) -> None:
    """Subscribe the session to ``uri`` served by ``target`` (None: a database resource)."""
    server_key = target.key if target is not None else ""
    current = await subscriptions_of(record.session_id)
    if [server_key, uri] in current:
        return
    limit = settings.MCP_SUBSCRIPTIONS_PER_SESSION
    if len(current) >= limit:
        raise SubscriptionRefused(
            f"this session already has {limit} subscriptions (MCP_SUBSCRIPTIONS_PER_SESSION)"
        )
    if target is not None:
        await _watch(target, uri)
    await get_backend().set_attr(record.session_id, ATTR, json.dumps([*current, [server_key, uri]]))
    await _index_add(server_key, uri, record.session_id)


async def unsubscribe(record: SessionRecord, uri: str) -> bool:
    """End the session's subscriptions to ``uri``; False when it had none."""
    current = await subscriptions_of(record.session_id)
    mine = [item for item in current if item[1] == uri]
    if not mine:
        return False
    kept = [item for item in current if item[1] != uri]
    await get_backend().set_attr(record.session_id, ATTR, json.dumps(kept))
    for server_key, _uri in mine:
        await _forget(server_key, uri, record.session_id)
    return True


async def session_ending(session_id: str) -> None:
    """The session ends: take it out of every index (never raises: the session ends anyway)."""
    try:
        for server_key, uri in await subscriptions_of(session_id):
            await _forget(server_key, uri, session_id)
    except Exception as exc:
        logger.warning("subscriptions of session %s… not cleared (pruned on relay): %r", session_id[:8], exc)


async def _forget(server_key: str, uri: str, session_id: str) -> None:
    left = await _index_remove(server_key, uri, session_id)
    if left or not server_key:
        return
    watch = _watches.get((id(asyncio.get_running_loop()), server_key))
    if watch is not None and uri in watch.uris and watch.pooled.usable:
        watch.uris.discard(uri)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                await watch.pooled.client.unsubscribe_resource(uri)
        except Exception as exc:  # the server forgot it, or went away: nothing left to undo
            logger.info("unsubscribe of %s on %s failed: %r", uri[:200], server_key, exc)
        if not watch.uris:  # nothing watched: the client goes back to the pool
            _watches.pop((id(asyncio.get_running_loop()), server_key), None)
            watch.pooled.release()


async def _watch(target: Any, uri: str) -> None:
    """Subscribe ``uri`` on the server's watch client of this process (opened on first use)."""
    from omni.gateway import downstream

    key = (id(asyncio.get_running_loop()), target.key)
    lock = _locks.setdefault(key, asyncio.Lock())
    async with lock:
        watch = _watches.get(key)
        if watch is not None and not watch.pooled.usable:  # its client failed: subscriptions lost
            logger.warning("watch client of %s was lost; its subscriptions with it", target.name)
            watch.pooled.release()
            watch = None
        if watch is None:
            # The server's shared pooled client, held (one lease) while it watches: a stdio server
            # is one process whose state the tools change, and a held client is never idle-closed.
            max_clients, per_client = downstream._pool_size(target)
            held = await pool.pool().acquire(
                target.pool_key(),
                lambda: downstream.open_client(target),
                max_clients=max_clients,
                calls_per_client=per_client,
            )
            watch = _watches[key] = _Watch(held)
        try:
            await _subscribe_on(watch, target, uri)
        finally:
            if not watch.uris:  # nothing watched (refused): the client goes back to the pool
                _watches.pop(key, None)
                watch.pooled.release()


async def _subscribe_on(watch: _Watch, target: Any, uri: str) -> None:
    client = watch.pooled.client
    if client.protocol_version in MODERN_PROTOCOL_VERSIONS:
        raise SubscriptionRefused(
            f"server '{target.name}' speaks {client.protocol_version}: it offers no resources/subscribe"
        )
    capability = client.server_capabilities.resources
    if capability is None or not capability.subscribe:
        raise SubscriptionRefused(f"server '{target.name}' does not offer resource subscriptions")
    if uri not in watch.uris:
        with warnings.catch_warnings():  # resources/subscribe is deprecated in 2026-07-28 only
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await client.subscribe_resource(uri)
        watch.uris.add(uri)


# --------------------------------------------------------------------------- subscriptions/listen
LISTENER_PREFIX = "listen-"
UPDATES_STREAM = "updates"


def new_listener_id() -> str:
    """The id of one 2026-07-28 ``subscriptions/listen`` stream: a pseudo-session whose
    ``updates`` stream carries the URIs that changed (tailed by the listening request)."""
    return f"{LISTENER_PREFIX}{uuid.uuid4().hex}"


async def listen_subscribe(listener_id: str, target: Any | None, uri: str) -> None:
    """Subscribe a listen stream to ``uri`` (its server's, or a database resource when None)."""
    if target is not None:
        await _watch(target, uri)
    await _index_add(target.key if target is not None else "", uri, listener_id)


async def listen_ended(listener_id: str, subscriptions: list[tuple[str, str]]) -> None:
    """The listen stream closed: forget its subscriptions (never raises)."""
    for server_key, uri in subscriptions:
        try:
            await _forget(server_key, uri, listener_id)
        except Exception as exc:
            logger.warning("subscription of listener %s… not cleared: %r", listener_id[:16], exc)


async def relay(target: Any, uri: str) -> int:
    """The server says ``uri`` changed: tell every open session that subscribed to it (through its
    standalone stream). Returns how many sessions were told."""
    backend = get_backend()
    message = types.ResourceUpdatedNotification(params=types.ResourceUpdatedNotificationParams(uri=uri))
    data = json.dumps({"jsonrpc": "2.0", **message.model_dump(by_alias=True, mode="json", exclude_none=True)})
    told = 0
    for session_id in await _index_members(target.key, uri):
        if session_id.startswith(LISTENER_PREFIX):  # a subscriptions/listen stream (2026-07-28)
            await backend.append(session_id, UPDATES_STREAM, uri)
            told += 1
            continue
        if not await backend.alive(session_id):
            await _index_remove(target.key, uri, session_id)
            continue
        await backend.append(session_id, GET_STREAM, data)
        told += 1
    return told


def close_watches() -> None:
    """Give every held client back to its pool (tests)."""
    for watch in _watches.values():
        watch.pooled.release()
    _watches.clear()
