"""Remembering the nonces of signed requests, so that each signature is accepted once.

With ``REDIS_URL`` the nonces live in Redis (``SET NX EX``: shared by every replica of a server);
without it, in a per-process dictionary whose entries expire (enough for one server process).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import Protocol

PREFIX = "omni:sig:nonce:"
MEMORY_MAX_ENTRIES = 200_000


class NonceStore(Protocol):
    async def claim(self, nonce: str, ttl: int) -> bool:
        """True the first time ``nonce`` is seen within ``ttl`` seconds, False afterwards."""
        ...


class MemoryNonceStore:
    def __init__(self) -> None:
        self._expiry: dict[str, float] = {}

    def _sweep(self, now: float) -> None:
        self._expiry = {nonce: until for nonce, until in self._expiry.items() if until > now}

    async def claim(self, nonce: str, ttl: int) -> bool:
        now = time.monotonic()
        until = self._expiry.get(nonce)
        if until is not None and until > now:
            return False
        if len(self._expiry) >= MEMORY_MAX_ENTRIES:
            self._sweep(now)
        self._expiry[nonce] = now + ttl
        return True


class RedisNonceStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self._clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _client(self):  # one client per event loop (redis.asyncio clients are loop-bound)
        import redis.asyncio as aioredis

        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = aioredis.Redis.from_url(self.url)
            self._clients[loop] = client
        return client

    async def claim(self, nonce: str, ttl: int) -> bool:
        return bool(await self._client().set(PREFIX + nonce, b"1", nx=True, ex=ttl))


def default_nonce_store() -> NonceStore:
    from django.conf import settings

    url = getattr(settings, "REDIS_URL", None)
    return RedisNonceStore(url) if url else MemoryNonceStore()
