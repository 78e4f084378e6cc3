"""The session store of the embedded default (one process, no Redis): the same interface as the
Redis store, in memory, thread-safe (registry changes publish from sync threads)."""

from __future__ import annotations

import asyncio
import threading
import time

from omni.gateway.sessions import (
    END_MARKER,
    GET_STREAM,
    SessionBackend,
    SessionRecord,
    make_event_id,
)


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
        self._slots: dict[str, tuple[str, int, float]] = {}  # token -> (credential, org, deadline)
        self._bytes: dict[str, dict[str, int]] = {}
        self._requests: dict[tuple[str, str], tuple[str, float]] = {}  # -> (request id, lease end)
        self._attrs: dict[str, dict[str, str]] = {}

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
        self._attrs.pop(session_id, None)
        self._bytes.pop(session_id, None)
        self._claims.pop(session_id, None)
        for key in [k for k in self._streams if k[0] == session_id]:
            self._streams.pop(key, None)
        for key in [k for k in self._requests if k[0] == session_id]:
            self._requests.pop(key, None)

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

    def end_org_sessions(self, org_id: int) -> int:
        with self._lock:
            ended = [sid for sid, (record, _) in self._sessions.items() if record.org_id == org_id]
            for session_id in ended:
                self._drop(session_id, announce=True)
            return len(ended)

    def _append_locked(self, session_id: str, stream_id: str, data: str) -> str:
        stream = self._streams.setdefault((session_id, stream_id), _MemoryStream())
        stream.seq += 1
        stream.events.append((stream.seq, data))
        del stream.events[: -self.history]
        if stream_id != GET_STREAM and data:
            per_stream = self._bytes.setdefault(session_id, {})
            per_stream[stream_id] = per_stream.get(stream_id, 0) + len(data)
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

    def open_totals(self, deadline: float) -> tuple[int, int]:
        now = time.monotonic()
        with self._lock:
            sessions = sum(1 for _, expires in self._sessions.values() if expires >= now)
            streams = sum(1 for _, _, expires in self._slots.values() if expires >= now)
        return sessions, streams

    # ------------------------------------------------------------------ per-session settings
    async def get_attr(self, session_id: str, name: str) -> str | None:
        with self._lock:
            if self._alive(session_id) is None:
                return None
            return self._attrs.get(session_id, {}).get(name)

    async def set_attr(self, session_id: str, name: str, value: str) -> bool:
        with self._lock:
            if self._alive(session_id) is None:
                return False
            self._attrs.setdefault(session_id, {})[name] = value
            return True

    async def alive(self, session_id: str) -> bool:
        with self._lock:
            return self._alive(session_id) is not None

    # ------------------------------------------------------------------ quotas
    async def live_sessions(self, credential: str, org_id: int) -> tuple[int, int]:
        with self._lock:
            records = [r for sid in list(self._sessions) if (r := self._alive(sid)) is not None]
            return (
                sum(1 for r in records if r.credential == credential),
                sum(1 for r in records if r.org_id == org_id),
            )

    async def acquire_stream_slot(
        self, credential: str, org_id: int, token: str, ttl: int, limits: tuple[int, int]
    ) -> str | None:
        now = time.monotonic()
        with self._lock:
            for other in [t for t, (_, _, deadline) in self._slots.items() if deadline < now]:
                self._slots.pop(other, None)
            if sum(1 for c, _, _ in self._slots.values() if c == credential) >= limits[0]:
                return "streams_per_key"
            if sum(1 for _, o, _ in self._slots.values() if o == org_id) >= limits[1]:
                return "streams_per_org"
            self._slots[token] = (credential, org_id, now + ttl)
            return None

    async def refresh_stream_slot(self, credential: str, org_id: int, token: str, ttl: int) -> None:
        with self._lock:
            self._slots[token] = (credential, org_id, time.monotonic() + ttl)

    async def release_stream_slot(self, credential: str, org_id: int, token: str) -> None:
        with self._lock:
            self._slots.pop(token, None)

    async def history_bytes(self, session_id: str) -> int:
        with self._lock:
            return sum(self._bytes.get(session_id, {}).values())

    # ------------------------------------------------------------------ request streams
    async def lease_request(self, session_id: str, stream_id: str, request_id: str, ttl: int) -> None:
        with self._lock:
            self._requests[(session_id, stream_id)] = (request_id, time.monotonic() + ttl)

    async def request_state(self, session_id: str, stream_id: str) -> tuple[bool, str | None]:
        with self._lock:
            entry = self._requests.get((session_id, stream_id))
        if entry is None:
            return False, None
        return entry[1] >= time.monotonic(), entry[0]

    async def finish_request(self, session_id: str, stream_id: str, keep_seconds: int) -> None:
        # One process: nothing outlives it, so a delivered stream is simply dropped.
        with self._lock:
            self._requests.pop((session_id, stream_id), None)
            self._bytes.get(session_id, {}).pop(stream_id, None)
            self._streams.pop((session_id, stream_id), None)

    async def sweep(self) -> int:
        with self._lock:
            before = len(self._sessions)
            for session_id in list(self._sessions):
                self._alive(session_id)  # drops it when expired
            for session_id, _ in list(self._streams):
                if session_id not in self._sessions and not session_id.startswith("feed-"):
                    self._drop(session_id)
            return before - len(self._sessions)
