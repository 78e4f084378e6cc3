"""Usage counters in process memory, fed by the gateway's RequestRecords, flushed in the background.

``record`` (subscribed to ``omni.gateway.observe``) runs on the request path, on the event loop:
it only adds to a dict under a lock held for a few dictionary operations (the flusher holds the
same lock only to swap the dict). No I/O, no database write.

A daemon thread, started with the first record, flushes every ``USAGE_FLUSH_SECONDS`` to the
minute store (``store.py``): one Redis pipeline of HINCRBYs, or this process's memory without
Redis. When Redis is down the counters stay in a pending buffer and go with the next flush; the
buffer holds at most ``USAGE_BUFFER_MAX_ROWS`` rows (distinct minute × dimensions): beyond that,
new rows are dropped and counted (``stats()["dropped"]``, logged), never the process's memory.
"""

from __future__ import annotations

import atexit
import json
import logging
import threading
import time
from typing import Any

from django.conf import settings

from omni.gateway.observe import RequestRecord
from omni.monitoring.usage import histogram
from omni.monitoring.usage.store import get_store

logger = logging.getLogger(__name__)

OTHER = "(other)"  # the target of rows past the bound of one flush interval
# Counters of one row: calls, duration sum (µs), then the histogram buckets.
CALLS, DURATION = 0, 1
WIDTH = 2 + histogram.SIZE
FIELD_NAMES: tuple[str, ...] = ("c", "d", *histogram.FIELDS)

Dims = tuple[int, str, str, str, str, str, str]  # org, key, server, target, method, outcome, error type

_lock = threading.Lock()
_current: dict[tuple[int, Dims], list[int]] = {}
_pending: dict[tuple[int, Dims], list[int]] = {}  # only touched by the flushing thread (under _flush_lock)
_flush_lock = threading.Lock()
_stats = {"records": 0, "dropped": 0, "flushes": 0, "flush_failures": 0}
_thread: threading.Thread | None = None
_thread_lock = threading.Lock()


def dims_of(record: RequestRecord) -> Dims:
    error_type = record.error_type
    if record.detail:
        error_type = f"{error_type}:{record.detail}"
    return (
        int(record.org_id or 0),
        record.api_key_id or "",
        record.server[:100],
        record.target[:255],
        record.method[:100],
        record.outcome[:16],
        error_type[:100],
    )


def record(rec: RequestRecord) -> None:
    """The observer: count ``rec`` in this process's current interval."""
    if rec.org_id is None:
        return
    minute = int(time.time()) // 60 * 60
    dims = dims_of(rec)
    bucket = histogram.index(rec.duration)
    micros = int(rec.duration * 1_000_000)
    limit = settings.USAGE_BUFFER_MAX_ROWS
    with _lock:
        _stats["records"] += 1
        row = _current.get((minute, dims))
        if row is None:
            if len(_current) >= limit:
                # Too many distinct rows in one interval (e.g. made-up tool names): fold the target.
                dims = (*dims[:3], OTHER, *dims[4:])
                row = _current.get((minute, dims))
                if row is None and len(_current) >= limit + 1000:
                    _stats["dropped"] += 1
                    return
            if row is None:
                row = _current[(minute, dims)] = [0] * WIDTH
        row[CALLS] += 1
        row[DURATION] += micros
        row[2 + bucket] += 1
    if _thread is None:
        _start_flusher()


def _merge(into: dict[tuple[int, Dims], list[int]], rows: dict[tuple[int, Dims], list[int]]) -> int:
    """Add ``rows`` into ``into`` within the buffer bound; returns the calls dropped."""
    dropped = 0
    limit = settings.USAGE_BUFFER_MAX_ROWS
    for key, counters in rows.items():
        row = into.get(key)
        if row is None:
            if len(into) >= limit:
                dropped += counters[CALLS]
                continue
            into[key] = list(counters)
        else:
            for i, value in enumerate(counters):
                row[i] += value
    return dropped


def encode(rows: dict[tuple[int, Dims], list[int]]) -> dict[tuple[int, str], int]:
    """Rows as the store's (minute, "<dims JSON>|<counter>") increments (zero counters left out)."""
    out: dict[tuple[int, str], int] = {}
    for (minute, dims), counters in rows.items():
        prefix = json.dumps(dims, separators=(",", ":"))
        for name, value in zip(FIELD_NAMES, counters, strict=True):
            if value:
                out[(minute, f"{prefix}|{name}")] = value
    return out


def decode(fields: dict[str, int]) -> dict[Dims, list[int]]:
    """A minute's store fields back to rows by dimensions (unknown fields ignored)."""
    index = {name: i for i, name in enumerate(FIELD_NAMES)}
    rows: dict[Dims, list[int]] = {}
    for field, value in fields.items():
        prefix, _, name = field.rpartition("|")
        i = index.get(name)
        if i is None:
            continue
        try:
            raw = json.loads(prefix)
            dims = (int(raw[0]), *(str(part) for part in raw[1:7]))
        except (ValueError, TypeError, IndexError):
            continue
        if len(dims) != 7:
            continue
        rows.setdefault(dims, [0] * WIDTH)[i] += int(value)  # type: ignore[index]
    return rows


def flush() -> bool:
    """Push this process's counters to the minute store now. True when nothing is left pending."""
    global _current
    with _flush_lock:
        with _lock:
            taken, _current = _current, {}
        dropped = _merge(_pending, taken)
        if dropped:
            _stats["dropped"] += dropped
            logger.warning(
                "usage counters: %d calls dropped (buffer of %d rows full)", dropped, len(_pending)
            )
        if not _pending:
            return True
        try:
            get_store().add(encode(_pending))
        except Exception as exc:
            _stats["flush_failures"] += 1
            logger.warning("usage counters not flushed (kept, %d rows pending): %r", len(_pending), exc)
            return False
        _pending.clear()
        _stats["flushes"] += 1
        return True


def stats() -> dict[str, Any]:
    with _lock:
        current = len(_current)
    return {**_stats, "current_rows": current, "pending_rows": len(_pending)}


def _loop() -> None:
    while True:
        time.sleep(settings.USAGE_FLUSH_SECONDS)
        try:
            flush()
        except Exception:  # never let the flusher die
            logger.exception("usage flush failed")


def _start_flusher() -> None:
    global _thread
    with _thread_lock:
        if _thread is not None:
            return
        _thread = threading.Thread(target=_loop, name="usage-flusher", daemon=True)
        _thread.start()
        atexit.register(_flush_at_exit)


def _flush_at_exit() -> None:
    try:
        flush()
    except Exception as exc:
        logger.debug("usage counters not flushed at exit: %r", exc)


def reset() -> None:
    """Forget everything counted and pending (tests)."""
    global _current
    with _flush_lock, _lock:
        _current = {}
        _pending.clear()
        for key in _stats:
            _stats[key] = 0
