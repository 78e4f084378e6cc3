"""Small ASGI helpers shared by the gateway's transports."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


def header(scope: dict, name: str) -> str | None:
    """The first value of header ``name`` (case-insensitive), decoded as latin-1."""
    wanted = name.lower().encode("latin-1")
    for key, value in scope.get("headers", []):
        if key.lower() == wanted:
            return value.decode("latin-1")
    return None


class BodyTooLarge(Exception):
    """The request body is larger than the limit."""


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body; ``BodyTooLarge`` past ``limit`` bytes (the rest is never read),
    ``ConnectionAbortedError`` when the client went away."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionAbortedError
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands out the already-read body once, then waits on the real one."""
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def send_json(send: Send, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
    body = json.dumps(payload).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    for key, value in (headers or {}).items():
        raw_headers.append((key.lower().encode("latin-1"), value.encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


async def json_error(
    send: Send,
    status: int,
    message: str,
    *,
    code: int = -32600,
    data: Any = None,
    headers: dict[str, str] | None = None,
    request_id: Any = None,
) -> None:
    """An HTTP error whose body is a JSON-RPC error object (what MCP clients parse)."""
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    await send_json(send, status, {"jsonrpc": "2.0", "id": request_id, "error": error}, headers)


_PHRASES = {
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    415: "Unsupported Media Type",
    421: "Misdirected Request",
}


def jsonrpc_refusals(send: Send) -> Send:
    """Wraps ``send`` so that a refusal written without a JSON body (the SDK answers some with
    plain text or nothing: 405, 406, a bad Content-Type) goes out as a JSON-RPC error instead,
    with the same status and headers. JSON answers and successes pass through untouched."""
    held: dict | None = None
    chunks: list[bytes] = []

    async def wrapped(message: dict) -> None:
        nonlocal held
        if message["type"] == "http.response.start":
            headers = dict((k.lower(), v) for k, v in message.get("headers", []))
            content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
            if message.get("status", 200) >= 400 and not content_type.startswith("application/json"):
                held = message
                return
        elif message["type"] == "http.response.body" and held is not None:
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            status = held.get("status", 400)
            text = b"".join(chunks).decode("utf-8", "replace").strip()[:200]
            phrase = _PHRASES.get(status, "Refused")
            extra = {
                k.decode("latin-1"): v.decode("latin-1")
                for k, v in held.get("headers", [])
                if k.lower() not in (b"content-type", b"content-length")
            }
            await json_error(
                send, status, f"{phrase}: {text}" if text and text != phrase else phrase, headers=extra
            )
            return
        await send(message)

    return wrapped
