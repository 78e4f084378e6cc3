"""The web process's lifecycle: draining before it exits.

When the ASGI server is told to stop (SIGTERM, lifespan shutdown), ``start_draining()`` is called
once. From then on long-lived responses (the GET ``/mcp`` stream, ``/sse``, ``subscriptions/listen``)
end cleanly at their next chance (clients reconnect to another process with ``Last-Event-ID``),
while ordinary requests in flight finish. Code that loops for a long time checks ``is_draining()``
or awaits ``wait_draining()``; code that must run at the end (flushing queued audit events)
registers with ``on_drain``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

_draining = threading.Event()
_lock = threading.Lock()
# One asyncio.Event per event loop that asked (an asyncio.Event belongs to one loop).
_loop_events: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Event]] = {}
_drain_hooks: list[Callable[[], Awaitable[None]]] = []


def is_draining() -> bool:
    return _draining.is_set()


def _event() -> asyncio.Event:
    loop = asyncio.get_running_loop()
    with _lock:
        entry = _loop_events.get(id(loop))
        if entry is None or entry[0] is not loop:
            event = asyncio.Event()
            if _draining.is_set():
                event.set()
            _loop_events[id(loop)] = (loop, event)
            return event
        return entry[1]


async def wait_draining() -> None:
    """Returns when the process starts draining (at once when it already is)."""
    await _event().wait()


def on_drain(hook: Callable[[], Awaitable[None]]) -> None:
    """Run ``hook`` (a coroutine function) in ``run_drain_hooks`` when the process stops."""
    with _lock:
        if hook not in _drain_hooks:
            _drain_hooks.append(hook)


def start_draining() -> None:
    """From any thread: mark the process as draining and wake every waiter."""
    if _draining.is_set():
        return
    _draining.set()
    logger.info("draining: long-lived streams end, in-flight requests finish")
    with _lock:
        entries = list(_loop_events.values())
    for loop, event in entries:
        if loop.is_closed():
            continue
        try:
            loop.call_soon_threadsafe(event.set)
        except RuntimeError:  # the loop closed meanwhile
            pass


async def run_drain_hooks() -> None:
    """Run every ``on_drain`` hook once (errors logged, never raised)."""
    with _lock:
        hooks = list(_drain_hooks)
    for hook in hooks:
        try:
            await hook()
        except Exception:
            logger.exception("drain hook %r failed", hook)


def reset_for_tests() -> None:
    _draining.clear()
    with _lock:
        _loop_events.clear()
