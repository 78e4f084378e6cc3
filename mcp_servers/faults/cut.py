"""Cutting an HTTP connection in the middle of an answer (the ``disconnect`` tool, standalone).

``ConnectionCutter`` wraps the faults server's Streamable HTTP app. A ``tools/call`` of
``disconnect`` is marked in the ASGI scope (``CUT_SCOPE_KEY``); the tool then answers with padding,
and the cutter sends the response headers and the first ``partial_bytes`` of the body that carries
the answer, stops the app and returns without finishing the response: the ASGI server (uvicorn)
closes the TCP connection, so the client reads a truncated body ("peer closed connection").
Every other request passes through untouched. The request body is read at most up to
``MAX_INSPECTED_BYTES`` to look for the call; a longer one is passed on without a look.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio

from mcp_servers.faults.runtime import CUT_SCOPE_KEY

logger = logging.getLogger(__name__)

MAX_INSPECTED_BYTES = 64 * 1024
MARKER = b'"padding"'  # only the disconnect tool's answer carries it


def _disconnect_call(body: bytes) -> int | None:
    """``partial_bytes`` of a JSON-RPC ``tools/call`` of ``disconnect`` (None for anything else)."""
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(message, dict) or message.get("method") != "tools/call":
        return None
    params = message.get("params")
    if not isinstance(params, dict) or params.get("name") != "disconnect":
        return None
    arguments = params.get("arguments") if isinstance(params.get("arguments"), dict) else {}
    partial = arguments.get("partial_bytes", 1024)
    return partial if isinstance(partial, int) and partial >= 0 else 1024


class ConnectionCutter:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        chunks: list[dict[str, Any]] = []
        size = 0
        more = True
        while more and size <= MAX_INSPECTED_BYTES:
            message = await receive()
            chunks.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        replay = list(chunks)

        async def replayed() -> dict[str, Any]:
            return replay.pop(0) if replay else await receive()

        partial = None
        if not more:
            partial = _disconnect_call(b"".join(c.get("body", b"") for c in chunks))
        if partial is None:
            await self.app(scope, replayed, send)
            return
        await self._cut(scope, replayed, send, partial)

    async def _cut(self, scope: dict[str, Any], receive: Any, send: Any, partial: int) -> None:
        cut = False
        with anyio.CancelScope() as cancel_scope:

            async def cutting_send(message: dict[str, Any]) -> None:
                nonlocal cut
                if cut:
                    return  # the app may try to write on: nothing more leaves
                body = message.get("body", b"") if message["type"] == "http.response.body" else b""
                if MARKER in body:
                    keep = min(partial, max(len(body) - 1, 0))
                    await send({"type": "http.response.body", "body": body[:keep], "more_body": True})
                    cut = True
                    cancel_scope.cancel()
                    return
                await send(message)

            await self.app({**scope, CUT_SCOPE_KEY: True}, receive, cutting_send)
        if cut:
            # Returning with the response unfinished makes the ASGI server close the connection.
            logger.warning("disconnect: cut the connection after %d bytes of the answer", partial)
