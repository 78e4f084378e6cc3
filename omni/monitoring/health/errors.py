"""The last ERROR log records of every process, for the system health page.

``LastErrorsHandler`` is installed in ``LOGGING`` (settings). ``emit`` never does I/O: it appends a
small dict to a bounded in-memory ring of this process, and with ``REDIS_URL`` to a pending queue
that a daemon thread pushes to the Redis list ``omni:health:errors`` (``LPUSH`` + ``LTRIM`` to
``HEALTH_LAST_ERRORS`` entries), so every process's errors are read in one place. Without Redis
(the embedded default: one web process) the page reads this process's ring.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import socket
import threading
import time
from typing import Any

from django.conf import settings

ERRORS_KEY = "omni:health:errors"
_MESSAGE_LIMIT = 2000

_lock = threading.Lock()
_ring: collections.deque[dict[str, Any]] | None = None
_pending: collections.deque[dict[str, Any]] = collections.deque(maxlen=1000)
_wake = threading.Event()
_flusher: tuple[int, threading.Thread] | None = None  # (pid, thread): a forked child starts its own

logger = logging.getLogger(__name__)


def _limit() -> int:
    return int(getattr(settings, "HEALTH_LAST_ERRORS", 50))


def _local_ring() -> collections.deque[dict[str, Any]]:
    global _ring
    if _ring is None or _ring.maxlen != _limit():
        _ring = collections.deque(_ring or (), maxlen=_limit())
    return _ring


def _request_id(record: logging.LogRecord) -> str:
    """The request id of what was being served when the record was logged, when known: the MCP
    request's context, else the Django request bound by the audit middleware."""
    explicit = getattr(record, "request_id", None)
    if explicit:
        return str(explicit)[:64]
    try:
        from omni.gateway.server import current_context

        ctx = current_context.get()
        if ctx is not None and getattr(ctx, "request_id", None):
            return str(ctx.request_id)[:64]
        from omni.audit.context import current_scope

        scope = current_scope()
        request = getattr(scope, "request", None)
        value = getattr(request, "audit_request_id", None)
        return str(value)[:64] if value else ""
    except Exception:
        return ""


class LastErrorsHandler(logging.Handler):
    """Keeps the last ERROR (and CRITICAL) records; see the module docstring."""

    def __init__(self, level: int = logging.ERROR) -> None:
        super().__init__(level)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                exc = record.exc_info[1]
                message = f"{message}\n{type(exc).__name__}: {str(exc)[:500]}"
            entry = {
                "time": record.created,
                "level": record.levelname,
                "logger": record.name,
                "message": message[:_MESSAGE_LIMIT],
                "host": socket.gethostname(),
                "pid": record.process or os.getpid(),
                "request_id": _request_id(record),
            }
            with _lock:
                _local_ring().appendleft(entry)
            if settings.REDIS_URL:
                _pending.append(entry)
                _ensure_flusher()
                _wake.set()
        except Exception:  # a logging handler never raises
            self.handleError(record)


def _ensure_flusher() -> None:
    global _flusher
    pid = os.getpid()
    if _flusher is not None and _flusher[0] == pid and _flusher[1].is_alive():
        return
    with _lock:
        if _flusher is not None and _flusher[0] == pid and _flusher[1].is_alive():
            return
        thread = threading.Thread(target=_flush_loop, name="omni-last-errors", daemon=True)
        _flusher = (pid, thread)
        thread.start()


def _flush_loop() -> None:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    while True:
        _wake.wait(5.0)
        _wake.clear()
        flush(client)


def flush(client: Any = None) -> int:
    """Push the pending entries to Redis now; returns how many (kept for later on failure)."""
    if not settings.REDIS_URL or not _pending:
        return 0
    if client is None:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    batch = []
    while _pending and len(batch) < 200:
        batch.append(_pending.popleft())
    try:
        pipe = client.pipeline()
        pipe.lpush(ERRORS_KEY, *[json.dumps(entry, default=str) for entry in batch])
        pipe.ltrim(ERRORS_KEY, 0, _limit() - 1)
        pipe.execute()
        return len(batch)
    except Exception as exc:
        _pending.extendleft(reversed(batch))
        # WARNING, not ERROR: an ERROR here would come back to this handler.
        logger.warning("last errors not pushed to Redis: %r", exc)
        time.sleep(1.0)
        return 0


def last_errors(limit: int | None = None) -> list[dict[str, Any]]:
    """The newest errors first: every process's (Redis) or this process's (embedded default)."""
    limit = limit or _limit()
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        try:
            raw = client.lrange(ERRORS_KEY, 0, limit - 1)
        finally:
            client.close()
        entries = []
        for item in raw:
            try:
                entries.append(json.loads(item))
            except ValueError:
                continue
        return entries
    with _lock:
        return list(_local_ring())[:limit]
