"""Serving one of a session's event streams as a long-lived SSE response (the Streamable HTTP GET
stream, a resumed request stream, the legacy /sse stream): shared by both transports.

A stream lives as long as its client wants it: reads block on the store (a dedicated Redis
connection per read), a keep-alive comment goes out after ``MCP_KEEPALIVE_SECONDS`` without data,
and the session's idle timer is restarted at the same pace. It ends cleanly — an empty final body,
never an exception escaping the started response — when the session ends, the client goes away,
the process starts draining (``omni.lifecycle``), or anything fails (Redis down, a bug): the client
then reconnects with ``Last-Event-ID``. A resumed request stream whose executing process died (its
owner lease lapsed) ends with a JSON-RPC error response for that request id.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from django.conf import settings

from omni import lifecycle
from omni.gateway.sessions import END_MARKER, SessionBackend, parse_event_id

logger = logging.getLogger(__name__)

BLOCK_MS = 10_000
KEEP_ALIVE = b": keep-alive\n\n"
ORPHANED = -32603
ORPHANED_MESSAGE = (
    "Request outcome unknown: the gateway process executing it stopped before it answered; "
    "retry if the request is safe to repeat"
)


def sse_event(event_id: str | None, data: str, event: str | None = "message") -> bytes:
    lines = []
    if event_id:
        lines.append(f"id: {event_id}")
    if event:
        lines.append(f"event: {event}")
    lines.extend(f"data: {line}" for line in (data.splitlines() or [""]))
    return ("\n".join(lines) + "\n\n").encode()


def is_response(data: str) -> bool:
    try:
        message = json.loads(data)
    except ValueError:
        return False
    return isinstance(message, dict) and "id" in message and ("result" in message or "error" in message)


def _guess_request_id(stream_id: str) -> Any:
    return int(stream_id) if stream_id.lstrip("-").isdigit() else stream_id


def orphan_error(stream_id: str, request_id_json: str | None) -> str:
    """The JSON-RPC error that ends a request stream whose executor died."""
    request_id: Any = _guess_request_id(stream_id)
    if request_id_json:
        try:
            request_id = json.loads(request_id_json)
        except ValueError:
            pass
    error = {"code": ORPHANED, "message": ORPHANED_MESSAGE, "data": {"reason": "executor_lost"}}
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "error": error})


class StreamSlot:
    """One open long-lived stream counted against the streams quotas (lapses unless refreshed)."""

    def __init__(self, backend: SessionBackend, credential: str, org_id: int) -> None:
        self.backend = backend
        self.credential = credential
        self.org_id = org_id
        self.token = uuid.uuid4().hex
        self.ttl = max(60, 3 * settings.MCP_KEEPALIVE_SECONDS)

    async def acquire(self, limits: tuple[int, int]) -> str | None:
        return await self.backend.acquire_stream_slot(
            self.credential, self.org_id, self.token, self.ttl, limits
        )

    async def refresh(self) -> bool:
        await self.backend.refresh_stream_slot(self.credential, self.org_id, self.token, self.ttl)
        return True

    async def release(self) -> None:
        with anyio.CancelScope(shield=True):
            try:
                await self.backend.release_stream_slot(self.credential, self.org_id, self.token)
            except Exception:  # it lapses by itself
                logger.warning("could not release stream slot %s", self.token, exc_info=True)


async def end_body(send: Any) -> None:
    """The final empty body of a streaming response; never raises (the client may be gone)."""
    with anyio.CancelScope(shield=True):
        try:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except Exception as exc:
            logger.debug("final body not sent (client gone): %r", exc)


async def pump_events(
    *,
    backend: SessionBackend,
    session_id: str,
    stream_id: str,
    after: str,
    receive: Any,
    send: Any,
    render: Callable[[str | None, str], bytes],
    stop_on_response: bool = False,
    keep_going: Callable[[], Awaitable[bool]] | None = None,
) -> str:
    """Send the stream's events after position ``after`` until the session ends (END_MARKER,
    expiry), the client disconnects, ``keep_going`` says no, the process drains, an error occurs,
    or — with ``stop_on_response`` — a response (or the orphan error) ends a resumed request
    stream. Keep-alive comments fill idle periods. Never raises; returns why it ended."""
    interval = settings.MCP_KEEPALIVE_SECONDS
    lease_check = max(settings.MCP_REQUEST_LEASE_SECONDS / 2, 0.5)
    reason = "closed"

    async def deliver(event_id: str | None, data: str) -> None:
        await send({"type": "http.response.body", "body": render(event_id, data), "more_body": True})

    async def pump() -> str:
        position = after
        last_sent = last_house = time.monotonic()
        while True:
            now = time.monotonic()
            wait = max(min(last_sent, last_house) + interval - now, 0.1)
            if stop_on_response:
                wait = min(wait, lease_check)
            events = await backend.read(session_id, stream_id, position, int(wait * 1000))
            for event_id, data in events:
                position = parse_event_id(event_id)[1]  # type: ignore[index]
                if data == END_MARKER:
                    return "session ended"  # DELETE, revoked key
                if not data:
                    continue  # a priming event
                await deliver(event_id, data)
                last_sent = time.monotonic()
                if stop_on_response and is_response(data):
                    return "response delivered"
            if stop_on_response and not events:
                running, request_id = await backend.request_state(session_id, stream_id)
                if not running:
                    # Anything stored after the last read, then the verdict.
                    for event_id, data in await backend.read(session_id, stream_id, position, 0):
                        position = parse_event_id(event_id)[1]  # type: ignore[index]
                        if data and data != END_MARKER:
                            await deliver(event_id, data)
                            if is_response(data):
                                return "response delivered"
                    await deliver(None, orphan_error(stream_id, request_id))
                    return "executor lost"
            now = time.monotonic()
            if now - last_house >= interval:
                last_house = now
                if await backend.get(session_id) is None:
                    return "session ended"  # expiry; the read also restarted its idle timer
                if keep_going is not None and not await keep_going():
                    return "taken over"
            if now - last_sent >= interval:
                await send({"type": "http.response.body", "body": KEEP_ALIVE, "more_body": True})
                last_sent = now

    async def watch_disconnect(cancel: anyio.CancelScope) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        nonlocal reason
        reason = "client disconnected"
        cancel.cancel()

    async def watch_draining(cancel: anyio.CancelScope) -> None:
        await lifecycle.wait_draining()
        nonlocal reason
        reason = "draining"
        cancel.cancel()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch_disconnect, tg.cancel_scope)
            tg.start_soon(watch_draining, tg.cancel_scope)
            reason = await pump()
            tg.cancel_scope.cancel()
    except Exception as exc:
        # Redis down, the client gone mid-write, a bug: the stream ends cleanly and the client
        # reconnects with Last-Event-ID. Nothing may escape a started response.
        reason = f"error: {type(exc).__name__}"
        logger.warning("stream %s of session %s… ended: %r", stream_id, session_id[:8], exc)
    await end_body(send)
    return reason
