"""Audit events from the MCP path, written off the request's critical path and in batches.

Each event is built at once (actor, organization, target, IP and request id copied now) and queued;
one writer task per event loop appends everything queued so far under a single lock of the audit
chain head, in one transaction (``append_many``). A tool call's answer never waits for the audit
write, and a burst of calls costs one database transaction per batch, not one per call.
``drain`` waits until every queued event is written (tests, shutdown).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import Any

from asgiref.sync import sync_to_async

from omni.audit.services import AuditTarget, append_many, build_event

logger = logging.getLogger(__name__)

MAX_BATCH = 500
# The ASGI scope of the MCP request being served (set by the gateway front): events get its
# client IP and request id without every caller passing it along.
current_http_scope: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "omni_http_scope", default=None
)


class _Writer:
    """The queue and writer task of one event loop."""

    def __init__(self) -> None:
        self.queue: list[dict[str, Any]] = []
        self.wake = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()
        self.task = asyncio.get_running_loop().create_task(self._run(), name="omni-audit-writer")

    def put(self, values: dict[str, Any]) -> None:
        self.queue.append(values)
        self.idle.clear()
        self.wake.set()

    async def _run(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.queue:
                batch, self.queue = self.queue[:MAX_BATCH], self.queue[MAX_BATCH:]
                try:
                    await sync_to_async(append_many)(batch)
                except Exception:  # the audit log must never take the gateway down
                    logger.exception("could not write %d audit events", len(batch))
            self.idle.set()


_writers: dict[int, _Writer] = {}


def _writer() -> _Writer:
    loop = asyncio.get_running_loop()
    writer = _writers.get(id(loop))
    if writer is None or writer.task.done():
        writer = _writers[id(loop)] = _Writer()
    return writer


def record_later(action: str, **parts: Any) -> None:
    """Queue an audit event (never raises into the caller)."""
    if parts.get("request") is None and (scope := current_http_scope.get()) is not None:
        parts["request"] = scope
    try:
        values = build_event(action, **parts)
    except Exception:
        logger.exception("audit event %s could not be built", action)
        return
    _writer().put(values)


async def drain() -> None:
    writer = _writers.get(id(asyncio.get_running_loop()))
    if writer is not None:
        await writer.idle.wait()


__all__ = ["AuditTarget", "current_http_scope", "drain", "record_later"]
