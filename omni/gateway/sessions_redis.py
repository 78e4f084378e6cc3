"""The shared session store on Redis: a hash per session, a Redis Stream per event stream,
``XREAD BLOCK`` for delivery across processes (see ``sessions.py``).

Keys of one session (``<p>`` is ``omni:mcp``): ``<p>:s:<sid>`` (the record), ``<p>:ev:<sid>:<stream>``
(event streams), ``<p>:idx:<sid>`` (the set of its event stream keys, so ending a session touches
only its own keys), ``<p>:hb:<sid>`` (bytes held per request stream), ``<p>:rq:<sid>`` (request id
per running request stream), ``<p>:lease:<sid>:<stream>`` (the executing process's lease),
``<p>:get:<sid>`` (the standalone stream's holder). Organization and credential sets index
sessions; ``<p>:open:key:<cred>`` / ``<p>:open:org:<org>`` (sorted sets) count open streams.
"""

from __future__ import annotations

import math
import time
from typing import Any

from django.conf import settings

from omni.gateway.redis_clients import async_client, sync_client
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

SWEEP_LOCK = f"{PREFIX}:sweep-lock"


class RedisSessionBackend(SessionBackend):
    def __init__(self, url: str, idle_seconds: int, history: int) -> None:
        self.url = url
        self.idle_seconds = idle_seconds
        self.history = history

    # ------------------------------------------------------------------ clients
    def _client(self) -> Any:
        """Commands that are safe to repeat: one retry after a connection error."""
        return async_client(self.url, "retry")

    def _writer(self) -> Any:
        """Appends (XADD): never repeated, so an event is never stored twice."""
        return async_client(self.url, "once")

    def _blocking(self, block_ms: int) -> Any:
        """The client for blocking reads of up to ``block_ms``. One client (one pool) serves every
        block up to the usual ceiling: the stream pumps block for the time left until their next
        keep-alive, a different value each time, and a client per value leaked a connection per
        read (soak: ~1.5 Redis connections per legacy SSE session)."""
        ceiling = max(10.0, float(settings.MCP_KEEPALIVE_SECONDS))
        seconds = max(block_ms / 1000, ceiling)
        return async_client(self.url, "blocking", float(math.ceil(seconds)))

    def _sync_client(self) -> Any:
        return sync_client(self.url, "retry")

    # ------------------------------------------------------------------ keys
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

    @staticmethod
    def _index_key(session_id: str) -> str:
        return f"{PREFIX}:idx:{session_id}"

    @staticmethod
    def _bytes_key(session_id: str) -> str:
        return f"{PREFIX}:hb:{session_id}"

    @staticmethod
    def _requests_key(session_id: str) -> str:
        return f"{PREFIX}:rq:{session_id}"

    @staticmethod
    def _lease_key(session_id: str, stream_id: str) -> str:
        return f"{PREFIX}:lease:{session_id}:{_encode_stream(stream_id)}"

    def _own_keys(self, session_id: str, stream_keys: list[str]) -> list[str]:
        return [
            self._key(session_id),
            self._index_key(session_id),
            self._bytes_key(session_id),
            self._requests_key(session_id),
            f"{PREFIX}:get:{session_id}",
            *stream_keys,
        ]

    def _ending(self, pipe: Any, session_id: str, data: dict[str, str], stream_keys: list[str]) -> None:
        """Queue on ``pipe`` everything that ends a session (sync and async pipelines alike)."""
        get_key = self._stream_key(session_id, GET_STREAM)
        others = [key for key in stream_keys if key != get_key]
        pipe.delete(*self._own_keys(session_id, others))
        pipe.xadd(get_key, {"d": END_MARKER}, maxlen=self.history, approximate=True)
        pipe.expire(get_key, END_MARKER_TTL)
        pipe.srem(self._org_key(int(data["org_id"])), session_id)
        pipe.srem(self._credential_key(data["credential"]), session_id)

    def _queue_append(self, pipe: Any, session_id: str, stream_id: str, data: str) -> None:
        key = self._stream_key(session_id, stream_id)
        index = self._index_key(session_id)
        pipe.xadd(key, {"d": data}, maxlen=self.history, approximate=True)
        pipe.expire(key, self.idle_seconds)
        pipe.sadd(index, key)
        pipe.expire(index, self.idle_seconds)
        if stream_id != GET_STREAM and data:
            pipe.hincrby(self._bytes_key(session_id), stream_id, len(data))
            pipe.expire(self._bytes_key(session_id), self.idle_seconds)

    # ------------------------------------------------------------------ sessions
    async def create(self, record: SessionRecord) -> None:
        async with self._client().pipeline(transaction=True) as pipe:
            pipe.hset(self._key(record.session_id), mapping=record.to_mapping())
            pipe.expire(self._key(record.session_id), self.idle_seconds)
            pipe.sadd(self._org_key(record.org_id), record.session_id)
            pipe.sadd(self._credential_key(record.credential), record.session_id)
            await pipe.execute()

    async def get(self, session_id: str) -> SessionRecord | None:
        async with self._client().pipeline(transaction=False) as pipe:
            pipe.hgetall(self._key(session_id))
            pipe.expire(self._key(session_id), self.idle_seconds)
            pipe.expire(self._index_key(session_id), self.idle_seconds)
            data, *_ = await pipe.execute()
        if not data:
            return None
        return SessionRecord.from_mapping(session_id, data)

    async def delete(self, session_id: str) -> bool:
        client = self._client()
        data = await client.hgetall(self._key(session_id))
        if not data:
            return False
        keys = list(await client.smembers(self._index_key(session_id)))
        async with client.pipeline(transaction=True) as pipe:
            self._ending(pipe, session_id, data, keys)
            await pipe.execute()
        return True

    # ------------------------------------------------------------------ events
    async def append(self, session_id: str, stream_id: str, data: str) -> str:
        async with self._writer().pipeline(transaction=False) as pipe:
            self._queue_append(pipe, session_id, stream_id, data)
            position, *_ = await pipe.execute()
        return make_event_id(stream_id, position)

    async def read(
        self, session_id: str, stream_id: str, after: str | None, block_ms: int
    ) -> list[tuple[str, str]]:
        key = self._stream_key(session_id, stream_id)
        if after not in (None, "$"):
            # Anything already stored after the position comes back at once.
            entries = await self._client().xrange(key, min=f"({after}", max="+", count=500)
            if entries or block_ms <= 0:
                return [(make_event_id(stream_id, pos), fields.get("d", "")) for pos, fields in entries]
        result = await self._blocking(block_ms).xread({key: after or "$"}, count=500, block=max(block_ms, 1))
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
        writer = sync_client(self.url, "once")
        for org_key in org_keys:
            for session_id in client.smembers(org_key):
                if not client.exists(self._key(session_id)):
                    client.srem(org_key, session_id)  # expired: forget it
                    continue
                pipe = writer.pipeline(transaction=False)
                self._queue_append(pipe, session_id, GET_STREAM, data)
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
            keys = list(client.smembers(self._index_key(session_id)))
            pipe = client.pipeline(transaction=True)
            self._ending(pipe, session_id, data, keys)
            pipe.execute()
            ended += 1
        return ended

    def end_org_sessions(self, org_id: int) -> int:
        client = self._sync_client()
        ended = 0
        for session_id in client.smembers(self._org_key(org_id)):
            data = client.hgetall(self._key(session_id))
            if data:
                keys = list(client.smembers(self._index_key(session_id)))
                pipe = client.pipeline(transaction=True)
                self._ending(pipe, session_id, data, keys)
                pipe.execute()
                ended += 1
        client.delete(self._org_key(org_id), f"{PREFIX}:open:org:{org_id}")
        return ended

    def append_sync(self, session_id: str, stream_id: str, data: str) -> str:
        pipe = sync_client(self.url, "once").pipeline(transaction=False)
        self._queue_append(pipe, session_id, stream_id, data)
        position, *_ = pipe.execute()
        return make_event_id(stream_id, position)

    def open_totals(self, deadline: float) -> tuple[int, int]:
        """SCARD of the organization sets (a session that expired counts until the sweeper drops
        it) and ZCOUNT of the live stream slots; SCAN pages of 500 keys, until ``deadline``."""
        client = self._sync_client()
        now = time.time()
        totals = [0, 0]
        for index, pattern in enumerate((f"{PREFIX}:org:*", f"{PREFIX}:open:org:*")):
            cursor = 0
            while True:
                cursor, keys = client.scan(cursor, match=pattern, count=500)
                if keys:
                    with client.pipeline(transaction=False) as pipe:
                        for key in keys:
                            if index == 0:
                                pipe.scard(key)
                            else:
                                pipe.zcount(key, now, "+inf")
                        totals[index] += sum(int(n) for n in pipe.execute())
                if cursor == 0 or time.monotonic() > deadline:
                    break
        return totals[0], totals[1]

    # ------------------------------------------------------------------ per-session settings
    # Fields ``attr_<name>`` of the session's own hash: they end (and expire) with it.
    async def get_attr(self, session_id: str, name: str) -> str | None:
        return await self._client().hget(self._key(session_id), f"attr_{name}")

    async def set_attr(self, session_id: str, name: str, value: str) -> bool:
        client = self._client()
        if not await client.exists(self._key(session_id)):
            return False
        await client.hset(self._key(session_id), f"attr_{name}", value)
        return True

    async def alive(self, session_id: str) -> bool:
        return bool(await self._client().exists(self._key(session_id)))

    # ------------------------------------------------------------------ quotas
    async def _live_members(self, set_key: str) -> int:
        client = self._client()
        members = list(await client.smembers(set_key))
        if not members:
            return 0
        async with client.pipeline(transaction=False) as pipe:
            for session_id in members:
                pipe.exists(self._key(session_id))
            alive = await pipe.execute()
        dead = [sid for sid, exists in zip(members, alive, strict=True) if not exists]
        if dead:
            await client.srem(set_key, *dead)
        return len(members) - len(dead)

    async def live_sessions(self, credential: str, org_id: int) -> tuple[int, int]:
        return (
            await self._live_members(self._credential_key(credential)),
            await self._live_members(self._org_key(org_id)),
        )

    @staticmethod
    def _slot_keys(credential: str, org_id: int) -> tuple[str, str]:
        return f"{PREFIX}:open:key:{credential}", f"{PREFIX}:open:org:{org_id}"

    async def acquire_stream_slot(
        self, credential: str, org_id: int, token: str, ttl: int, limits: tuple[int, int]
    ) -> str | None:
        key_slots, org_slots = self._slot_keys(credential, org_id)
        now = time.time()
        client = self._client()
        async with client.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key_slots, "-inf", now)
            pipe.zremrangebyscore(org_slots, "-inf", now)
            pipe.zcard(key_slots)
            pipe.zcard(org_slots)
            _, _, per_key, per_org = await pipe.execute()
        if per_key >= limits[0]:
            return "streams_per_key"
        if per_org >= limits[1]:
            return "streams_per_org"
        await self.refresh_stream_slot(credential, org_id, token, ttl)
        return None

    async def refresh_stream_slot(self, credential: str, org_id: int, token: str, ttl: int) -> None:
        deadline = time.time() + ttl
        async with self._client().pipeline(transaction=True) as pipe:
            for key in self._slot_keys(credential, org_id):
                pipe.zadd(key, {token: deadline})
                pipe.expire(key, ttl + 60)
            await pipe.execute()

    async def release_stream_slot(self, credential: str, org_id: int, token: str) -> None:
        async with self._client().pipeline(transaction=True) as pipe:
            for key in self._slot_keys(credential, org_id):
                pipe.zrem(key, token)
            await pipe.execute()

    async def history_bytes(self, session_id: str) -> int:
        values = await self._client().hvals(self._bytes_key(session_id))
        return sum(int(v) for v in values)

    # ------------------------------------------------------------------ request streams
    async def lease_request(self, session_id: str, stream_id: str, request_id: str, ttl: int) -> None:
        async with self._client().pipeline(transaction=False) as pipe:
            pipe.set(self._lease_key(session_id, stream_id), "1", ex=ttl)
            pipe.hset(self._requests_key(session_id), stream_id, request_id)
            pipe.expire(self._requests_key(session_id), self.idle_seconds)
            await pipe.execute()

    async def request_state(self, session_id: str, stream_id: str) -> tuple[bool, str | None]:
        async with self._client().pipeline(transaction=False) as pipe:
            pipe.exists(self._lease_key(session_id, stream_id))
            pipe.hget(self._requests_key(session_id), stream_id)
            running, request_id = await pipe.execute()
        return bool(running), request_id

    async def finish_request(self, session_id: str, stream_id: str, keep_seconds: int) -> None:
        key = self._stream_key(session_id, stream_id)
        async with self._client().pipeline(transaction=False) as pipe:
            pipe.delete(self._lease_key(session_id, stream_id))
            pipe.hdel(self._requests_key(session_id), stream_id)
            pipe.hdel(self._bytes_key(session_id), stream_id)
            if keep_seconds > 0:
                pipe.expire(key, keep_seconds)
            else:
                pipe.delete(key)
                pipe.srem(self._index_key(session_id), key)
            await pipe.execute()

    async def sweep(self) -> int:
        """Sessions whose record expired leave their index entries and stream keys: remove them.
        One process sweeps at a time (a lock with a TTL); running it twice changes nothing."""
        client = self._client()
        if not await client.set(SWEEP_LOCK, "1", nx=True, ex=30):
            return 0
        removed = 0
        try:
            seen: set[str] = set()
            for pattern in (f"{PREFIX}:org:*", f"{PREFIX}:cred:*"):
                async for set_key in client.scan_iter(match=pattern, count=500):
                    members = list(await client.smembers(set_key))
                    if not members:
                        continue
                    async with client.pipeline(transaction=False) as pipe:
                        for session_id in members:
                            pipe.exists(self._key(session_id))
                        alive = await pipe.execute()
                    dead = [sid for sid, exists in zip(members, alive, strict=True) if not exists]
                    for session_id in dead:
                        if session_id not in seen:
                            seen.add(session_id)
                            keys = list(await client.smembers(self._index_key(session_id)))
                            await client.delete(*self._own_keys(session_id, keys))
                            removed += 1
                    if dead:
                        await client.srem(set_key, *dead)
        finally:
            await client.delete(SWEEP_LOCK)
        return removed
