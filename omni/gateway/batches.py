"""JSON-RPC batches on a 2025-03-26 session (that revision requires servers to accept them).

Each message of the batch is served in turn exactly like a POST of its own (``engine``: the same
session, history, leases and SDK dispatcher); the answers to its requests go back together as one
JSON array (``application/json``), or ``202 Accepted`` when the batch held only notifications and
responses. An element that is not a JSON-RPC message is answered with its own ``-32600`` entry,
as JSON-RPC 2.0 says. Notifications sent while a request ran (progress, log messages) are not part
of a JSON array answer: a client that wants them sends the request alone.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp_types import jsonrpc_message_adapter
from pydantic import ValidationError

from omni.gateway import engine
from omni.gateway.http import Receive, Send, json_error, replay_body, send_json
from omni.gateway.sessions import SessionBackend, SessionRecord

MAX_BATCH_MESSAGES = 50


class _Capture:
    """A ``send`` that keeps one response (status, content type, body) instead of sending it."""

    def __init__(self) -> None:
        self.status = 0
        self.content_type = ""
        self.chunks: list[bytes] = []

    async def __call__(self, message: dict) -> None:
        if message["type"] == "http.response.start":
            self.status = message.get("status", 0)
            for key, value in message.get("headers", []):
                if key.lower() == b"content-type":
                    self.content_type = value.decode("latin-1").lower()
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))

    def messages(self) -> list[dict[str, Any]]:
        text = b"".join(self.chunks).decode("utf-8", "replace")
        if not text.strip():
            return []
        if self.content_type.startswith("text/event-stream"):
            found = []
            for block in text.replace("\r\n", "\n").split("\n\n"):
                data = "\n".join(line[5:].lstrip() for line in block.splitlines() if line.startswith("data:"))
                if data.strip():
                    found.append(json.loads(data))
            return found
        parsed = json.loads(text)
        return parsed if isinstance(parsed, list) else [parsed]


def _is_answer(message: dict[str, Any]) -> bool:
    return "method" not in message and ("result" in message or "error" in message)


async def serve_batch(
    scope: dict,
    receive: Receive,
    send: Send,
    *,
    record: SessionRecord,
    backend: SessionBackend,
    items: list[Any],
) -> None:
    if not items:
        await json_error(send, 400, "Invalid Request: an empty JSON-RPC batch")
        return
    if len(items) > MAX_BATCH_MESSAGES:
        await json_error(send, 400, f"Invalid Request: a batch holds at most {MAX_BATCH_MESSAGES} messages")
        return
    answers: list[dict[str, Any]] = []
    for item in items:
        try:
            message = jsonrpc_message_adapter.validate_python(item, by_name=False)
        except (ValidationError, RecursionError):
            answers.append(
                {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Invalid Request"}}
            )
            continue
        if getattr(message, "method", None) == "initialize":
            answers.append(
                {
                    "jsonrpc": "2.0",
                    "id": getattr(message, "id", None),
                    "error": {
                        "code": -32600,
                        "message": "Invalid Request: initialize cannot be part of a batch",
                    },
                }
            )
            continue
        body = json.dumps(item).encode()
        capture = _Capture()
        await engine.serve_http_request(
            session_id=record.session_id,
            protocol_version=record.protocol_version,
            backend=backend,
            scope=scope,
            receive=replay_body(body, receive),
            send=capture,
            body=body,
        )
        wanted = getattr(message, "id", None) if hasattr(message, "method") else None
        for answer in capture.messages():
            if _is_answer(answer) and (wanted is None or answer.get("id") in (wanted, None)):
                if answer.get("id") is None and wanted is not None:
                    answer = {**answer, "id": wanted}
                answers.append(answer)
    headers = {MCP_SESSION_ID_HEADER: record.session_id}
    if not answers:
        await send(
            {
                "type": "http.response.start",
                "status": 202,
                "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": b""})
        return
    await send_json(send, 200, answers, headers)
