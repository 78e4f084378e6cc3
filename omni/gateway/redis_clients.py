"""Redis clients of the gateway, configured for outages and long blocking reads.

* Ordinary commands: a socket timeout (``MCP_REDIS_SOCKET_TIMEOUT``), a health check of pooled
  connections idle for more than a second (a connection left over from before a Redis restart is
  noticed before use, not by the request that draws it), and one retry with a short backoff for
  commands that are safe to repeat. Writes that must not be repeated (``XADD``, ``INCR``) use the
  client without retry: after a connection error the caller sees the error instead of a duplicate.
* Blocking reads (``XREAD BLOCK``): a client of their own per event loop (so a waiting reader never
  holds a connection that ordinary commands need) whose socket timeout is above the block time
  (redis-py 8's asyncio default of 5 s would cut every 10 s block).

asyncio clients are bound to their event loop, so there is one per loop and kind.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from django.conf import settings

BLOCK_MARGIN_SECONDS = 5.0
_lock = threading.Lock()
_async_clients: dict[tuple[int, str, str], tuple[asyncio.AbstractEventLoop, Any]] = {}
_sync_clients: dict[tuple[str, str], Any] = {}


def _kwargs(kind: str, block_seconds: float, retry_class: Any) -> dict[str, Any]:
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    timeout = settings.MCP_REDIS_SOCKET_TIMEOUT
    if kind == "blocking":
        timeout = block_seconds + BLOCK_MARGIN_SECONDS
    retries = 0 if kind == "once" else 1
    return {
        "decode_responses": True,
        "socket_timeout": timeout,
        "socket_connect_timeout": min(settings.MCP_REDIS_SOCKET_TIMEOUT, 2.0),
        "health_check_interval": 1,
        "retry": retry_class(ExponentialBackoff(cap=0.5, base=0.05), retries),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
    }


def async_client(url: str, kind: str = "retry", block_seconds: float = 0.0) -> Any:
    """The asyncio client of this event loop. ``kind``: "retry" (idempotent commands, one retry),
    "once" (no retry), "blocking" (blocking reads of up to ``block_seconds``)."""
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry as AsyncRetry

    loop = asyncio.get_running_loop()
    key = (id(loop), url, f"{kind}:{block_seconds}")
    with _lock:
        entry = _async_clients.get(key)
        if entry is not None and entry[0] is loop:
            return entry[1]
        client = aioredis.Redis.from_url(url, **_kwargs(kind, block_seconds, AsyncRetry))
        _async_clients[key] = (loop, client)
        return client


def sync_client(url: str, kind: str = "retry") -> Any:
    """The (thread-safe, pooled) synchronous client. ``kind`` as for ``async_client``."""
    import redis
    from redis.retry import Retry

    with _lock:
        client = _sync_clients.get((url, kind))
        if client is None:
            client = redis.Redis.from_url(url, **_kwargs(kind, 0.0, Retry))
            _sync_clients[(url, kind)] = client
        return client


def is_outage(exc: BaseException) -> bool:
    """Is ``exc`` Redis being unreachable (rather than a bug)?"""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return isinstance(exc, RedisConnectionError | RedisTimeoutError)
