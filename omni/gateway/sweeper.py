"""The periodic sweep of expired sessions: a small task in each web process (started by the first
MCP request, since daphne sends no lifespan), every ``MCP_SESSION_SWEEP_SECONDS``. A session's
record expires by itself in Redis; the sweep removes what it leaves behind (index entries, event
streams, byte counters). The sweep is idempotent and one process sweeps at a time."""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings

from omni import lifecycle
from omni.gateway.sessions import get_backend

logger = logging.getLogger(__name__)

_tasks: dict[int, asyncio.Task] = {}


async def _run() -> None:
    while not lifecycle.is_draining():
        try:
            await asyncio.wait_for(lifecycle.wait_draining(), timeout=settings.MCP_SESSION_SWEEP_SECONDS)
            return
        except TimeoutError:
            pass
        try:
            removed = await get_backend().sweep()
            if removed:
                logger.info("session sweep: removed %d expired sessions", removed)
        except Exception as exc:  # Redis down: try again next time
            logger.warning("session sweep failed: %r", exc)


def ensure_sweeper() -> None:
    """Start this event loop's sweeper once (cheap to call on every request)."""
    loop = asyncio.get_running_loop()
    task = _tasks.get(id(loop))
    if task is None or task.done():
        _tasks[id(loop)] = loop.create_task(_run(), name="omni-session-sweeper")
