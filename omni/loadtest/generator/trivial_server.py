"""A trivial JSON-RPC server (raw ASGI, no framework, no database): the target that measures what
the load generator itself can drive (``scripts/bench_loadgen.py``) and that the generator's tests
misbehave with. Serve it with ``uvicorn omni.loadtest.generator.trivial_server:app``.

``POST /mcp`` answers at once: ``initialize`` (with an ``Mcp-Session-Id``), notifications (202),
``tools/list``, ``prompts/*``, ``resources/*`` and ``tools/call``, whose tool name picks the
behaviour: ``echo`` (the arguments back as ``structuredContent``), ``fail500`` (HTTP 500),
``slow`` (waits ``arguments.ms``), ``tool_error`` (``isError: true``), ``rpc_error`` (JSON-RPC
error -32602), ``garbage`` (a body that is not JSON), ``sse`` (the answer framed as SSE), ``drop``
(closes the connection without an answer), ``forget`` (ends the caller's session: its next
request gets 404). A request naming an unknown ``Mcp-Session-Id`` gets 404. ``DELETE /mcp`` ends
a session. ``GET /log`` returns
the last request bodies it received (at most 10,000), ``DELETE /log`` clears them.
"""

from __future__ import annotations

import asyncio
import collections
import json
import uuid
from typing import Any

LOG: collections.deque = collections.deque(maxlen=10_000)
SESSIONS: set[str] = set()
DELETED: list[str] = []


async def _body(receive: Any) -> bytes:
    chunks = []
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionAbortedError
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


async def _send(send: Any, status: int, body: bytes, ctype: bytes = b"application/json", extra=()) -> None:
    headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _result(message: dict[str, Any]) -> dict[str, Any] | None:
    method = message.get("method")
    params = message.get("params") or {}
    if method == "initialize":
        return {
            "protocolVersion": params.get("protocolVersion", "2025-11-25"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "trivial", "version": "1"},
        }
    if method == "tools/list":
        return {"tools": [{"name": "echo", "inputSchema": {"type": "object"}}]}
    if method == "prompts/list":
        return {"prompts": []}
    if method == "prompts/get":
        return {"messages": [{"role": "user", "content": {"type": "text", "text": params.get("name", "")}}]}
    if method == "resources/list":
        return {"resources": []}
    if method == "resources/read":
        return {"contents": [{"uri": params.get("uri", ""), "text": "x"}]}
    if method == "tools/call":
        arguments = params.get("arguments") or {}
        return {
            "content": [{"type": "text", "text": "ok"}],
            "structuredContent": arguments,
            "isError": params.get("name") == "tool_error",
        }
    return None


async def app(scope: dict, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    method, path = scope["method"], scope["path"]
    if path == "/log":
        if method == "DELETE":
            LOG.clear()
            DELETED.clear()
        await _send(send, 200, json.dumps({"bodies": list(LOG), "deleted": DELETED}).encode())
        return
    if path != "/mcp":
        await _send(send, 404, b"{}")
        return
    if method == "DELETE":
        session = dict(scope["headers"]).get(b"mcp-session-id", b"").decode()
        SESSIONS.discard(session)
        DELETED.append(session)
        await _send(send, 200, b"")
        return
    try:
        body = await _body(receive)
    except ConnectionAbortedError:
        return
    try:
        message = json.loads(body)
    except ValueError:
        await _send(send, 400, b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}')
        return
    LOG.append(message)
    session = dict(scope["headers"]).get(b"mcp-session-id", b"").decode()
    if session and session not in SESSIONS:
        await _send(
            send, 404, b'{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Session not found"}}'
        )
        return
    if (
        session
        and message.get("method") == "tools/call"
        and (message.get("params") or {}).get("name") == "forget"
    ):
        SESSIONS.discard(session)  # this answer still arrives; the session's next request gets 404
    if "id" not in message:
        await _send(send, 202, b"")
        return
    params = message.get("params") or {}
    tool = params.get("name") if message.get("method") == "tools/call" else None
    if tool == "fail500":
        await _send(send, 500, b'{"error":"boom"}')
        return
    if tool == "slow":
        await asyncio.sleep(float((params.get("arguments") or {}).get("ms", 1000)) / 1000)
    if tool == "garbage":
        await _send(send, 200, b"this is not json")
        return
    if tool == "drop":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]})
        await send({"type": "http.response.body", "body": b'{"jsonrpc"', "more_body": False})
        return
    if tool == "rpc_error":
        answer: dict[str, Any] = {
            "jsonrpc": "2.0",
            "id": message["id"],
            "error": {"code": -32602, "message": "bad"},
        }
    else:
        result = _result(message)
        if result is None:
            answer = {
                "jsonrpc": "2.0",
                "id": message["id"],
                "error": {"code": -32601, "message": "no method"},
            }
        else:
            answer = {"jsonrpc": "2.0", "id": message["id"], "result": result}
    extra = []
    if message.get("method") == "initialize":
        session = uuid.uuid4().hex
        SESSIONS.add(session)
        extra.append((b"mcp-session-id", session.encode()))
    encoded = json.dumps(answer).encode()
    if tool == "sse":
        await _send(send, 200, b"event: message\ndata: " + encoded + b"\n\n", b"text/event-stream", extra)
        return
    await _send(send, 200, encoded, extra=extra)
