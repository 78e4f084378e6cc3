"""Version counters shared by every process: in Redis, or — for the embedded default without
Redis — in small files under ``var/state/`` (so a ``manage.py`` command that changes the registry
still invalidates the running web process's caches).

A counter moves when something a cache was built from changes; a process compares the counters it
built its cache at with the current ones on each request (one MGET round trip, or two file reads).
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

from django.conf import settings

PREFIX = "omni:ver:"
_lock = threading.Lock()


_made_dirs: set[Path] = set()


def _state_file(key: str) -> Path:
    directory = Path(settings.VAR_DIR) / "state"
    if directory not in _made_dirs:
        directory.mkdir(parents=True, exist_ok=True)
        _made_dirs.add(directory)
    return directory / key.replace(":", "_")


def _read_file(key: str) -> int:
    try:
        return int(_state_file(key).read_text() or 0)
    except (OSError, ValueError):
        return 0


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
    return [_read_file(key) for key in keys]


def bump_versions(keys: list[str]) -> None:
    if settings.REDIS_URL:
        pipe = _redis_sync().pipeline(transaction=False)
        for key in keys:
            pipe.incr(PREFIX + key)
        pipe.execute()
        return
    with _lock:
        for key in keys:
            path = _state_file(key)
            temporary = path.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(str(_read_file(key) + 1))
            temporary.replace(path)  # atomic: a reader never sees a half-written number
