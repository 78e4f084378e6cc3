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
