"""Audit events from the MCP path: spooled durably before the answer, written to the database by a
writer thread off the request path.

``record_later`` builds the event at once (actor, organization, target, IP and request id copied
now), numbers it (this process's name and counter) and appends it to the durable spool
(``omni.audit.spool``: a Redis stream, or a local write-ahead file in the embedded default) before
it returns, so the answer that follows is only sent once the event can no longer be lost with the
process. The writer thread (``omni.audit.spool.writer``) moves spooled events into the hash chain
in batches, with retries; a database outage delays events, it does not drop them. ``drain`` waits
until every event this process spooled is written (tests); at shutdown a drain hook does the same
for a bounded time (``AUDIT_SPOOL_DRAIN_TIMEOUT``) and leaves the rest in the spool.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import Any

from django.conf import settings

from omni.audit.services import AuditTarget, build_event
from omni.audit.spool import get_spool
from omni.audit.spool.writer import ensure_writer

logger = logging.getLogger(__name__)

# The ASGI scope of the MCP request being served (set by the gateway front): events get its
# client IP and request id without every caller passing it along.
current_http_scope: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "omni_http_scope", default=None
)


def record_later(action: str, **parts: Any) -> None:
    """Spool an audit event durably (never raises into the caller)."""
    if parts.get("request") is None and (scope := current_http_scope.get()) is not None:
        parts["request"] = scope
    try:
        values = build_event(action, **parts)
    except Exception:
        logger.exception("audit event %s could not be built", action)
        return
    try:
        get_spool().put(values)
        ensure_writer()
    except Exception:  # the audit log must never take the gateway down
        logger.exception("audit event %s could not be spooled", action)


async def drain(timeout: float | None = None) -> bool:
    """Wait until every event this process spooled is in the database (or ``timeout`` passed:
    ``AUDIT_SPOOL_DRAIN_TIMEOUT`` by default); True when it is."""
    writer = ensure_writer()
    limit = settings.AUDIT_SPOOL_DRAIN_TIMEOUT if timeout is None else timeout
    return await asyncio.to_thread(writer.wait_settled, limit)


__all__ = ["AuditTarget", "current_http_scope", "drain", "record_later"]
