"""The shared session store on Redis: a hash per session, a Redis Stream per event stream,
``XREAD BLOCK`` for delivery across processes (see ``sessions.py``)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from omni.gateway.sessions import (
    END_MARKER,
    END_MARKER_TTL,
    GET_STREAM,
    PREFIX,
    SessionBackend,
    SessionRecord,
    _encode_stream,
    make_event_id,
)


class RedisSessionBackend(SessionBackend):
    def __init__(self, url: str, idle_seconds: int, history: int) -> None:
        self.url = url
        self.idle_seconds = idle_seconds
        self.history = history
        self._clients: dict[int, Any] = {}
        self._sync = None
        self._lock = threading.Lock()

    def _client(self):
        """One asyncio client per event loop (redis.asyncio connections are loop-bound)."""
        import redis.asyncio as aioredis

        loop = asyncio.get_running_loop()
        client = self._clients.get(id(loop))
        if client is None:
            client = aioredis.Redis.from_url(self.url, decode_responses=True, health_check_interval=30)
            self._clients[id(loop)] = client
        return client

    def _sync_client(self):
        import redis

        with self._lock:
            if self._sync is None:
                self._sync = redis.Redis.from_url(self.url, decode_responses=True)
            return self._sync

    @staticmethod
    def _key(session_id: str) -> str:
        return f"{PREFIX}:s:{session_id}"

    @staticmethod
    def _org_key(org_id: int) -> str:
        return f"{PREFIX}:org:{org_id}"

    @staticmethod
    def _stream_key(session_id: str, stream_id: str) -> str:
        return f"{PREFIX}:ev:{session_id}:{_encode_stream(stream_id)}"

    @staticmethod
    def _credential_key(credential: str) -> str:
        return f"{PREFIX}:cred:{credential}"

    def _ending(self, pipe: Any, session_id: str, data: dict[str, str], stream_keys: list[str]) -> None:
        """Queue on ``pipe`` everything that ends a session (sync and async pipelines alike)."""
        get_key = self._stream_key(session_id, GET_STREAM)
        pipe.xadd(get_key, {"d": END_MARKER}, maxlen=self.history, approximate=True)
        pipe.expire(get_key, END_MARKER_TTL)
        others = [key for key in stream_keys if key != get_key]
        pipe.delete(self._key(session_id), *others)
        pipe.srem(self._org_key(int(data["org_id"])), session_id)
        pipe.srem(self._credential_key(data["credential"]), session_id)

    async def create(self, record: SessionRecord) -> None:
        client = self._client()
        async with client.pipeline(transaction=True) as pipe:
            pipe.hset(self._key(record.session_id), mapping=record.to_mapping())
            pipe.expire(self._key(record.session_id), self.idle_seconds)
            pipe.sadd(self._org_key(record.org_id), record.session_id)
            pipe.sadd(self._credential_key(record.credential), record.session_id)
            await pipe.execute()

    async def get(self, session_id: str) -> SessionRecord | None:
        client = self._client()
        async with client.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._key(session_id))
            pipe.expire(self._key(session_id), self.idle_seconds)
            data, _ = await pipe.execute()
        if not data:
            return None
        return SessionRecord.from_mapping(session_id, data)

    async def delete(self, session_id: str) -> bool:
        client = self._client()
        data = await client.hgetall(self._key(session_id))
        if not data:
            return False
        keys = [key async for key in client.scan_iter(match=f"{PREFIX}:ev:{session_id}:*", count=100)]
        async with client.pipeline(transaction=True) as pipe:
            self._ending(pipe, session_id, data, keys)
            await pipe.execute()
        return True

    async def append(self, session_id: str, stream_id: str, data: str) -> str:
        client = self._client()
        key = self._stream_key(session_id, stream_id)
        async with client.pipeline(transaction=False) as pipe:
            pipe.xadd(key, {"d": data}, maxlen=self.history, approximate=True)
            pipe.expire(key, self.idle_seconds)
            position, _ = await pipe.execute()
        return make_event_id(stream_id, position)

    async def read(
        self, session_id: str, stream_id: str, after: str | None, block_ms: int
    ) -> list[tuple[str, str]]:
        client = self._client()
        key = self._stream_key(session_id, stream_id)
        if after not in (None, "$"):
            # Anything already stored after the position comes back at once.
            entries = await client.xrange(key, min=f"({after}", max="+", count=500)
            if entries or block_ms <= 0:
                return [(make_event_id(stream_id, pos), fields.get("d", "")) for pos, fields in entries]
        result = await client.xread({key: after or "$"}, count=500, block=max(block_ms, 1))
        events: list[tuple[str, str]] = []
        for _key, entries in result or []:
            events.extend((make_event_id(stream_id, pos), fields.get("d", "")) for pos, fields in entries)
        return events

    async def claim_stream(self, session_id: str, token: str, ttl: int, force: bool = False) -> bool:
        client = self._client()
        key = f"{PREFIX}:get:{session_id}"
        if await client.set(key, token, nx=not force, ex=ttl):
            return True
        if await client.get(key) == token:
            await client.expire(key, ttl)
            return True
        return False

    async def release_stream(self, session_id: str, token: str) -> None:
        client = self._client()
        key = f"{PREFIX}:get:{session_id}"
        if await client.get(key) == token:
            await client.delete(key)

    def publish(self, org_id: int | None, data: str) -> int:
        client = self._sync_client()
        if org_id is None:
            org_keys = list(client.scan_iter(match=f"{PREFIX}:org:*", count=500))
        else:
            org_keys = [self._org_key(org_id)]
        delivered = 0
        for org_key in org_keys:
            for session_id in client.smembers(org_key):
                if not client.exists(self._key(session_id)):
                    client.srem(org_key, session_id)  # expired: forget it
                    continue
                key = self._stream_key(session_id, GET_STREAM)
                pipe = client.pipeline(transaction=False)
                pipe.xadd(key, {"d": data}, maxlen=self.history, approximate=True)
                pipe.expire(key, self.idle_seconds)
                pipe.execute()
                delivered += 1
        return delivered

    def count_sessions(self, org_id: int) -> int:
        client = self._sync_client()
        return sum(1 for sid in client.smembers(self._org_key(org_id)) if client.exists(self._key(sid)))

    def end_credential_sessions(self, credential: str) -> int:
        client = self._sync_client()
        ended = 0
        for session_id in client.smembers(self._credential_key(credential)):
            data = client.hgetall(self._key(session_id))
            if not data:
                client.srem(self._credential_key(credential), session_id)
                continue
            keys = list(client.scan_iter(match=f"{PREFIX}:ev:{session_id}:*", count=100))
            pipe = client.pipeline(transaction=True)
            self._ending(pipe, session_id, data, keys)
            pipe.execute()
            ended += 1
        return ended

    def append_sync(self, session_id: str, stream_id: str, data: str) -> str:
        key = self._stream_key(session_id, stream_id)
        pipe = self._sync_client().pipeline(transaction=False)
        pipe.xadd(key, {"d": data}, maxlen=self.history, approximate=True)
        pipe.expire(key, self.idle_seconds)
        position, _ = pipe.execute()
        return make_event_id(stream_id, position)
