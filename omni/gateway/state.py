"""Version counters shared by every process (Redis), or kept in memory for the embedded default.

A counter moves when something a cache was built from changes; a process compares the counters it
built its cache at with the current ones on each request (one MGET round trip).
"""

from __future__ import annotations

import asyncio
import threading

from django.conf import settings

PREFIX = "omni:ver:"
_memory: dict[str, int] = {}
_lock = threading.Lock()
_async_clients: dict[int, object] = {}
_sync_client = None


def _redis_async():
    import redis.asyncio as aioredis

    loop = asyncio.get_running_loop()
    client = _async_clients.get(id(loop))
    if client is None:
        client = aioredis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
        _async_clients[id(loop)] = client
    return client


def _redis_sync():
    global _sync_client
    import redis

    with _lock:
        if _sync_client is None:
            _sync_client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
        return _sync_client


async def read_versions(keys: list[str]) -> list[int]:
    if settings.REDIS_URL:
        values = await _redis_async().mget([PREFIX + key for key in keys])
        return [int(v) if v is not None else 0 for v in values]
    with _lock:
        return [_memory.get(key, 0) for key in keys]


def bump_versions(keys: list[str]) -> None:
    if settings.REDIS_URL:
        pipe = _redis_sync().pipeline(transaction=False)
        for key in keys:
            pipe.incr(PREFIX + key)
        pipe.execute()
        return
    with _lock:
        for key in keys:
            _memory[key] = _memory.get(key, 0) + 1
