"""Serving one of a session's event streams as a long-lived SSE response (the Streamable HTTP GET
stream, a resumed request stream, the legacy /sse stream): shared by both transports."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from omni.gateway.sessions import END_MARKER, SessionBackend, parse_event_id

BLOCK_MS = 10_000
KEEP_ALIVE = b": keep-alive\n\n"


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


async def pump_events(
    *,
    backend: SessionBackend,
    session_id: str,
    stream_id: str,
    after: str,
    receive: Any,
    send: Any,
    render: Callable[[str, str], bytes],
    stop_on_response: bool = False,
    keep_going: Callable[[], Awaitable[bool]] | None = None,
) -> None:
    """Send the stream's events after position ``after`` until the session ends (END_MARKER,
    expiry), the client disconnects, ``keep_going`` says no, or — with ``stop_on_response`` — a
    response ends a resumed request stream. Keep-alive comments fill idle periods."""

    async def pump() -> None:
        position = after
        while True:
            events = await backend.read(session_id, stream_id, position, BLOCK_MS)
            if not events:
                if await backend.get(session_id) is None:
                    return  # the session ended (DELETE, expiry)
                await send({"type": "http.response.body", "body": KEEP_ALIVE, "more_body": True})
            for event_id, data in events:
                position = parse_event_id(event_id)[1]  # type: ignore[index]
                if data == END_MARKER:
                    return  # the session ended (DELETE, revoked key)
                if not data:
                    continue  # a priming event
                await send({"type": "http.response.body", "body": render(event_id, data), "more_body": True})
                if stop_on_response and is_response(data):
                    return
            if keep_going is not None and not await keep_going():
                return

    async def watch_disconnect(cancel: anyio.CancelScope) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        cancel.cancel()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch_disconnect, tg.cancel_scope)
            await pump()
            tg.cancel_scope.cancel()
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except OSError:
        pass  # the client went away mid-write
