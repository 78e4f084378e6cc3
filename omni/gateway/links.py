"""Resource links handed out by tools, remembered per organization.

A tool result may name resources (``resource_link`` content, embedded resources) that its server
never lists. The gateway remembers, per organization, which server handed out each URI (at most
``MCP_RESOURCE_LINKS_PER_ORG``, the oldest forgotten first), so ``resources/read`` of that URI is
routed to that server — for that organization only. With Redis the memory is shared by every web
process (a hash of URI → server and a sorted set of when each was seen); without it, per process.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

import mcp_types as types
from django.conf import settings

from omni.security.limits import check_uri

PREFIX = "omni:mcp:links:"
TTL = 7 * 24 * 3600
MAX_PER_RESULT = 100

_memory: dict[int, OrderedDict[str, str]] = {}


def linked_uris(result: types.CallToolResult) -> list[str]:
    """The URIs a tool result hands out (resource links and embedded resources), at most
    ``MAX_PER_RESULT``, each a URI the gateway accepts."""
    uris: dict[str, None] = {}
    for block in result.content or []:
        if isinstance(block, types.ResourceLink):
            uri = str(block.uri)
        elif isinstance(block, types.EmbeddedResource):
            uri = str(block.resource.uri)
        else:
            continue
        if not check_uri(uri):
            uris.setdefault(uri)
        if len(uris) >= MAX_PER_RESULT:
            break
    return list(uris)


def _redis() -> Any:
    from omni.gateway.redis_clients import async_client

    return async_client(settings.REDIS_URL) if settings.REDIS_URL else None


async def remember(org_id: int, server: str, uris: list[str]) -> None:
    """Remember that ``server`` handed ``uris`` to organization ``org_id``."""
    if not uris:
        return
    limit = settings.MCP_RESOURCE_LINKS_PER_ORG
    client = _redis()
    if client is None:
        known = _memory.setdefault(org_id, OrderedDict())
        for uri in uris:
            known.pop(uri, None)
            known[uri] = server
        while len(known) > limit:
            known.popitem(last=False)
        return
    names, order = f"{PREFIX}{org_id}", f"{PREFIX}{org_id}:order"
    now = time.time()
    async with client.pipeline(transaction=False) as pipe:
        pipe.hset(names, mapping={uri: server for uri in uris})
        pipe.zadd(order, {uri: now for uri in uris})
        pipe.zrange(order, 0, -(limit + 1))  # everything past the limit, oldest first
        pipe.expire(names, TTL)
        pipe.expire(order, TTL)
        _set, _added, overflow, *_ = await pipe.execute()
    if overflow:
        async with client.pipeline(transaction=False) as pipe:
            pipe.hdel(names, *overflow)
            pipe.zrem(order, *overflow)
            await pipe.execute()


async def server_of(org_id: int, uri: str) -> str | None:
    """The server that handed ``uri`` to the organization, if it is remembered."""
    client = _redis()
    if client is None:
        return _memory.get(org_id, {}).get(uri)
    return await client.hget(f"{PREFIX}{org_id}", uri)


def clear_process_memory() -> None:
    _memory.clear()
