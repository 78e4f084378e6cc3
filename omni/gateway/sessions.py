"""MCP sessions shared by every web process: the session table and the event streams.

A handshake-era session (Streamable HTTP 2025-xx, or the 2024-11-05 HTTP+SSE transport) is a small
record — organization, the credential that opened it, the negotiated protocol version, the client's
info — plus ordered event streams: one per request stream and one for the session's standalone
GET (or legacy SSE) stream. With ``REDIS_URL`` both live in Redis (a hash per session, a Redis
Stream per event stream), so any process serves any session, a session survives the restart of
the process that opened it, a notification published by one process is read by the GET stream
another process holds (``XREAD BLOCK``), and ``Last-Event-ID`` resumes from the same stream.
Without Redis (the embedded default, one process) the same interface is kept in memory.

Event ids are ``<stream key>.<position>``: visible ASCII, ordered within their stream.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

GET_STREAM = "_GET_stream"  # the SDK's key for the standalone stream
PREFIX = "omni:mcp"
# Appended to a session's standalone stream when the session ends (DELETE, revoked key): the
# process holding its GET or SSE stream closes it at once instead of at the next keep-alive.
END_MARKER = "\x00end"
END_MARKER_TTL = 60


def new_session_id() -> str:
    """256 bits from the OS CSPRNG: unguessable, visible ASCII."""
    return secrets.token_urlsafe(32)


def _encode_stream(stream_id: str) -> str:
    return base64.urlsafe_b64encode(stream_id.encode()).decode().rstrip("=")


def _decode_stream(encoded: str) -> str:
    padding = "=" * (-len(encoded) % 4)
    return base64.urlsafe_b64decode(encoded + padding).decode()


def make_event_id(stream_id: str, position: str) -> str:
    return f"{_encode_stream(stream_id)}.{position}"


def parse_event_id(event_id: str) -> tuple[str, str] | None:
    """``(stream_id, position)`` of an event id, or None when it is not one of ours."""
    encoded, sep, position = event_id.partition(".")
    if not sep or not position:
        return None
    try:
        return _decode_stream(encoded), position
    except (ValueError, UnicodeDecodeError):
        return None


@dataclass
class SessionRecord:
    session_id: str
    org_id: int
    credential: str
    protocol_version: str
    transport: str  # "streamable_http" | "sse"
    client: dict[str, Any]
    created: float

    def to_mapping(self) -> dict[str, str]:
        return {
            "org_id": str(self.org_id),
            "credential": self.credential,
            "protocol_version": self.protocol_version,
            "transport": self.transport,
            "client": json.dumps(self.client),
            "created": str(self.created),
        }

    @classmethod
    def from_mapping(cls, session_id: str, data: dict[str, str]) -> SessionRecord:
        return cls(
            session_id=session_id,
            org_id=int(data["org_id"]),
            credential=data["credential"],
            protocol_version=data["protocol_version"],
            transport=data["transport"],
            client=json.loads(data.get("client") or "{}"),
            created=float(data.get("created") or 0),
        )


class SessionBackend:
    """What the transports need from a session store. Two implementations below."""

    idle_seconds: int

    async def create(self, record: SessionRecord) -> None:
        raise NotImplementedError

    async def get(self, session_id: str) -> SessionRecord | None:
        """The session, its idle timer restarted; None when unknown or expired."""
        raise NotImplementedError

    async def delete(self, session_id: str) -> bool:
        raise NotImplementedError

    async def append(self, session_id: str, stream_id: str, data: str) -> str:
        """Append an event (JSON text, "" for a priming event); returns its event id."""
        raise NotImplementedError

    async def read(
        self, session_id: str, stream_id: str, after: str | None, block_ms: int
    ) -> list[tuple[str, str]]:
        """Events after position ``after`` ("$" or None: only new ones), waiting up to ``block_ms``."""
        raise NotImplementedError

    async def claim_stream(self, session_id: str, token: str, ttl: int, force: bool = False) -> bool:
        """Hold the session's one standalone stream (refreshed while held); ``force`` takes it over."""
        raise NotImplementedError

    async def release_stream(self, session_id: str, token: str) -> None:
        raise NotImplementedError

    def publish(self, org_id: int | None, data: str) -> int:
        """From any thread: append ``data`` to the standalone stream of every open session of
        ``org_id`` (all organizations when None). Returns how many sessions got it."""
        raise NotImplementedError

    def count_sessions(self, org_id: int) -> int:
        raise NotImplementedError

    def append_sync(self, session_id: str, stream_id: str, data: str) -> str:
        """``append`` from any thread (sync code)."""
        raise NotImplementedError

    def end_credential_sessions(self, credential: str) -> int:
        """From any thread: end every session opened with ``credential`` (a revoked or deleted
        API key). Returns how many were open."""
        raise NotImplementedError


# --------------------------------------------------------------------------- Redis
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


# --------------------------------------------------------------------------- memory
class _MemoryStream:
    def __init__(self) -> None:
        self.events: list[tuple[int, str]] = []
        self.seq = 0
        self.waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []


class MemorySessionBackend(SessionBackend):
    """The embedded default: one process, no Redis. Thread-safe (publish runs in sync threads)."""

    def __init__(self, idle_seconds: int, history: int) -> None:
        self.idle_seconds = idle_seconds
        self.history = history
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[SessionRecord, float]] = {}
        self._streams: dict[tuple[str, str], _MemoryStream] = {}
        self._claims: dict[str, tuple[str, float]] = {}

    def _alive(self, session_id: str) -> SessionRecord | None:
        entry = self._sessions.get(session_id)
        if entry is None:
            return None
        record, deadline = entry
        if deadline < time.monotonic():
            self._drop(session_id)
            return None
        return record

    def _drop(self, session_id: str, *, announce: bool = False) -> None:
        if announce:
            self._append_locked(session_id, GET_STREAM, END_MARKER)  # wakes a blocked reader
        self._sessions.pop(session_id, None)
        for key in [k for k in self._streams if k[0] == session_id]:
            self._streams.pop(key, None)

    async def create(self, record: SessionRecord) -> None:
        with self._lock:
            self._sessions[record.session_id] = (record, time.monotonic() + self.idle_seconds)

    async def get(self, session_id: str) -> SessionRecord | None:
        with self._lock:
            record = self._alive(session_id)
            if record is not None:
                self._sessions[session_id] = (record, time.monotonic() + self.idle_seconds)
            return record

    async def delete(self, session_id: str) -> bool:
        with self._lock:
            existed = self._alive(session_id) is not None
            self._drop(session_id, announce=existed)
            return existed

    def end_credential_sessions(self, credential: str) -> int:
        with self._lock:
            ended = [sid for sid, (record, _) in self._sessions.items() if record.credential == credential]
            for session_id in ended:
                self._drop(session_id, announce=True)
            return len(ended)

    def _append_locked(self, session_id: str, stream_id: str, data: str) -> str:
        stream = self._streams.setdefault((session_id, stream_id), _MemoryStream())
        stream.seq += 1
        stream.events.append((stream.seq, data))
        del stream.events[: -self.history]
        for loop, event in stream.waiters:
            loop.call_soon_threadsafe(event.set)
        return make_event_id(stream_id, str(stream.seq))

    async def append(self, session_id: str, stream_id: str, data: str) -> str:
        with self._lock:
            return self._append_locked(session_id, stream_id, data)

    async def read(
        self, session_id: str, stream_id: str, after: str | None, block_ms: int
    ) -> list[tuple[str, str]]:
        loop = asyncio.get_running_loop()
        with self._lock:
            stream = self._streams.setdefault((session_id, stream_id), _MemoryStream())
            start = stream.seq if after in (None, "$") else int(after)
        deadline = loop.time() + block_ms / 1000
        while True:
            event = asyncio.Event()
            with self._lock:
                found = [(make_event_id(stream_id, str(s)), d) for s, d in stream.events if s > start]
                if found or loop.time() >= deadline:
                    return found
                stream.waiters.append((loop, event))
            try:
                await asyncio.wait_for(event.wait(), timeout=max(deadline - loop.time(), 0))
            except TimeoutError:
                pass
            finally:
                with self._lock:
                    stream.waiters.remove((loop, event))

    async def claim_stream(self, session_id: str, token: str, ttl: int, force: bool = False) -> bool:
        with self._lock:
            holder = self._claims.get(session_id)
            if force or holder is None or holder[0] == token or holder[1] < time.monotonic():
                self._claims[session_id] = (token, time.monotonic() + ttl)
                return True
            return False

    async def release_stream(self, session_id: str, token: str) -> None:
        with self._lock:
            if self._claims.get(session_id, ("", 0))[0] == token:
                self._claims.pop(session_id, None)

    def publish(self, org_id: int | None, data: str) -> int:
        delivered = 0
        with self._lock:
            for session_id in list(self._sessions):
                record = self._alive(session_id)
                if record is None or (org_id is not None and record.org_id != org_id):
                    continue
                self._append_locked(session_id, GET_STREAM, data)
                delivered += 1
        return delivered

    def append_sync(self, session_id: str, stream_id: str, data: str) -> str:
        with self._lock:
            return self._append_locked(session_id, stream_id, data)

    def count_sessions(self, org_id: int) -> int:
        with self._lock:
            return sum(
                1
                for sid in list(self._sessions)
                if (r := self._alive(sid)) is not None and r.org_id == org_id
            )


_backend: SessionBackend | None = None
_backend_lock = threading.Lock()


def get_backend() -> SessionBackend:
    global _backend
    with _backend_lock:
        if _backend is None:
            if settings.REDIS_URL:
                _backend = RedisSessionBackend(
                    settings.REDIS_URL, settings.MCP_SESSION_IDLE_SECONDS, settings.MCP_EVENT_HISTORY
                )
            else:
                _backend = MemorySessionBackend(settings.MCP_SESSION_IDLE_SECONDS, settings.MCP_EVENT_HISTORY)
        return _backend


def reset_backend() -> None:
    """Forget the backend (tests that change settings)."""
    global _backend
    with _backend_lock:
        _backend = None


LIST_CHANGED_METHODS = {
    "tools": "notifications/tools/list_changed",
    "prompts": "notifications/prompts/list_changed",
    "resources": "notifications/resources/list_changed",
}


CHANGES_STREAM = "changes"


def change_feed(org_id: int | None) -> str:
    """The pseudo-session whose ``changes`` stream carries an organization's (or the global)
    change kinds, read by 2026-07-28 ``subscriptions/listen`` streams."""
    return f"feed-org-{org_id}" if org_id is not None else "feed-global"


def publish_list_changed(org_id: int | None, kinds: set[str] | frozenset[str]) -> int:
    """Send ``notifications/<kind>/list_changed`` to every open session of the organization
    (handshake revisions) and to its ``subscriptions/listen`` streams (2026-07-28)."""
    backend = get_backend()
    delivered = 0
    for kind in sorted(kinds):
        message = {"jsonrpc": "2.0", "method": LIST_CHANGED_METHODS[kind]}
        delivered += backend.publish(org_id, json.dumps(message))
        backend.append_sync(change_feed(org_id), CHANGES_STREAM, kind)
    return delivered
