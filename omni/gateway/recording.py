"""Audit events from the MCP path, written off the request's critical path.

``arecord`` appends to the hash chain (one locked row update per event); the gateway schedules it
as a background task so a tool call's answer does not wait for the audit write. The tasks are
kept referenced until they finish, and ``drain`` lets tests and shutdown wait for them.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

from omni.audit.services import AuditTarget, arecord

_pending: set[asyncio.Task] = set()
# The ASGI scope of the MCP request being served (set by the gateway front): events get its
# client IP and request id without every caller passing it along.
current_http_scope: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "omni_http_scope", default=None
)


def record_later(action: str, **parts: Any) -> None:
    if parts.get("request") is None and (scope := current_http_scope.get()) is not None:
        parts["request"] = scope
    task = asyncio.get_running_loop().create_task(arecord(action, **parts))
    _pending.add(task)
    task.add_done_callback(_pending.discard)


async def drain() -> None:
    while _pending:
        await asyncio.gather(*list(_pending), return_exceptions=True)


__all__ = ["AuditTarget", "current_http_scope", "drain", "record_later"]
