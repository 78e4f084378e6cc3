"""Version counters shared by every process: in Redis, or — for the embedded default without
Redis — in small files under ``var/state/`` (so a ``manage.py`` command that changes the registry
still invalidates the running web process's caches).

A counter moves when something a cache was built from changes; a process compares the counters it
built its cache at with the current ones on each request (one MGET round trip, or two file reads).
In Redis the counters carry an epoch (``_epoch``), renewed when Redis comes back empty, so a
restart never re-issues a value that a process cached before it.
"""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path

from django.conf import settings

from omni.gateway.redis_clients import async_client, sync_client

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


EPOCH_KEY = PREFIX + "_epoch"
# A version is ``epoch * EPOCH_FACTOR + counter``: a Redis that restarted empty gets a new random
# epoch, so no value a process cached before the restart can come back after it (no aliasing).
EPOCH_FACTOR = 1 << 48


def _new_epoch() -> str:
    return str(secrets.randbelow(1 << 40) + 1)


def _combine(epoch: str, values: list) -> list[int]:
    base = int(epoch) * EPOCH_FACTOR
    return [base + (int(v) if v is not None else 0) for v in values]


async def read_versions(keys: list[str]) -> list[int]:
    """The current value of each counter (callers compare them for equality only)."""
    if settings.REDIS_URL:
        client = async_client(settings.REDIS_URL)
        epoch, *values = await client.mget([EPOCH_KEY, *(PREFIX + key for key in keys)])
        if epoch is None:
            # Redis lost its data (restart without persistence): every counter is gone, so a
            # new epoch starts; the first process to notice sets it, the others read it.
            await client.set(EPOCH_KEY, _new_epoch(), nx=True)
            epoch, *values = await client.mget([EPOCH_KEY, *(PREFIX + key for key in keys)])
        return _combine(epoch, values)
    return [_read_file(key) for key in keys]


def bump_versions(keys: list[str]) -> None:
    if settings.REDIS_URL:
        sync_client(settings.REDIS_URL, "retry").set(EPOCH_KEY, _new_epoch(), nx=True)
        # INCR is not repeated after a connection error (a double bump would only cost a rebuild,
        # but a lost one is reported to the caller instead of hidden).
        pipe = sync_client(settings.REDIS_URL, "once").pipeline(transaction=False)
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
