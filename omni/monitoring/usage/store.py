"""The minute store: usage counters per minute bucket between the flusher and the rollup.

With ``REDIS_URL`` one hash per minute (``omni:usage:m:<epoch minute>``, fields
``<dimensions JSON>|<counter>`` incremented with HINCRBY, expiring after ``USAGE_REDIS_TTL_SECONDS``)
shared by every process, and a set of the minutes changed since the last rollup. In the embedded
default (no Redis) the same shape lives in this process's memory, where the rollup (run in-process
by the embedded scheduler) reads it.

Counts only grow; the rollup copies a minute's absolute values, so reading a minute twice, or by
two workers at once, gives the same rows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from typing import Protocol

from django.conf import settings

PREFIX = "omni:usage:"
DIRTY = PREFIX + "dirty"


def minute_key(minute: int) -> str:
    return f"{PREFIX}m:{minute}"


class MinuteStore(Protocol):
    def add(self, increments: Mapping[tuple[int, str], int]) -> None: ...
    def take_dirty(self) -> list[int]: ...
    def mark_dirty(self, minutes: Iterable[int]) -> None: ...
    def read(self, minute: int) -> dict[str, int]: ...


class RedisMinuteStore:
    def __init__(self, url: str) -> None:
        self.url = url

    def _client(self):  # noqa: ANN202
        from omni.gateway.redis_clients import sync_client

        return sync_client(self.url, "once")

    def add(self, increments: Mapping[tuple[int, str], int]) -> None:
        """One pipeline: HINCRBY every counter, EXPIRE each minute, mark the minutes changed."""
        if not increments:
            return
        ttl = settings.USAGE_REDIS_TTL_SECONDS
        pipe = self._client().pipeline(transaction=False)
        minutes = set()
        for (minute, field), amount in increments.items():
            pipe.hincrby(minute_key(minute), field, amount)
            minutes.add(minute)
        for minute in minutes:
            pipe.expire(minute_key(minute), ttl)
        pipe.sadd(DIRTY, *minutes)
        pipe.execute()

    def take_dirty(self) -> list[int]:
        client = self._client()
        members = client.smembers(DIRTY)
        if members:
            client.srem(DIRTY, *members)
        return sorted(int(m) for m in members)

    def mark_dirty(self, minutes: Iterable[int]) -> None:
        minutes = list(minutes)
        if minutes:
            self._client().sadd(DIRTY, *minutes)

    def read(self, minute: int) -> dict[str, int]:
        return {field: int(value) for field, value in self._client().hgetall(minute_key(minute)).items()}


class MemoryMinuteStore:
    """The embedded default: this process's memory, minutes older than the TTL forgotten."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._minutes: dict[int, dict[str, int]] = {}
        self._dirty: set[int] = set()

    def add(self, increments: Mapping[tuple[int, str], int]) -> None:
        oldest = int(time.time()) - settings.USAGE_REDIS_TTL_SECONDS
        with self._lock:
            for (minute, field), amount in increments.items():
                counters = self._minutes.setdefault(minute, {})
                counters[field] = counters.get(field, 0) + amount
                self._dirty.add(minute)
            for minute in [m for m in self._minutes if m < oldest]:
                del self._minutes[minute]
                self._dirty.discard(minute)

    def take_dirty(self) -> list[int]:
        with self._lock:
            dirty, self._dirty = self._dirty, set()
        return sorted(dirty)

    def mark_dirty(self, minutes: Iterable[int]) -> None:
        with self._lock:
            self._dirty.update(m for m in minutes if m in self._minutes)

    def read(self, minute: int) -> dict[str, int]:
        with self._lock:
            return dict(self._minutes.get(minute, {}))


_memory = MemoryMinuteStore()


def get_store() -> MinuteStore:
    url = settings.REDIS_URL
    return RedisMinuteStore(url) if url else _memory
