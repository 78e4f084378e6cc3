"""``/sse`` + ``/messages/``: the 2024-11-05 HTTP+SSE transport, shared across processes.

``GET /sse`` opens a session in the shared store, announces ``/messages/?session_id=…`` as the
``endpoint`` event and then streams the session's events. ``POST /messages/`` may reach any
process: it answers 202 at once, runs the message through the SDK kernel and appends every
outgoing message to the session's stream, which the process holding the GET delivers.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import parse_qs

import anyio
from mcp_types import JSONRPCMessage, JSONRPCRequest, jsonrpc_message_adapter
from pydantic import ValidationError

from omni.gateway import engine, quotas, resource_updates
from omni.gateway.http import json_error, send_json
from omni.gateway.sessions import (
    GET_STREAM,
    SessionRecord,
    current_session,
    get_backend,
    new_session_id,
    parse_event_id,
)
from omni.gateway.streams import StreamSlot, pump_events
from omni.tenants.context import OrgContext

logger = logging.getLogger(__name__)

LEGACY_VERSION = "2024-11-05"


async def handle_stream(scope: dict, receive: Any, send: Any, ctx: OrgContext) -> None:
    if scope["method"] != "GET":
        await json_error(send, 405, "Method not allowed: GET /sse opens the stream", headers={"allow": "GET"})
        return
    backend = get_backend()
    if not await quotas.check_new_session(backend, ctx, send, scope["path"]):
        return
    slot = StreamSlot(backend, ctx.credential_id, ctx.org_id)
    refused = await slot.acquire(quotas.stream_limits(ctx))
    if refused is not None:
        await quotas.refuse(send, ctx, refused, quotas.quota_for(ctx.organization, refused), scope["path"])
        return
    try:
        await _serve_stream(scope, receive, send, ctx, backend, slot)
    finally:
        await slot.release()


async def _serve_stream(
    scope: dict, receive: Any, send: Any, ctx: OrgContext, backend: Any, slot: StreamSlot
) -> None:
    record = SessionRecord(
        session_id=new_session_id(),
        org_id=ctx.org_id,
        credential=ctx.credential_id,
        protocol_version=LEGACY_VERSION,
        transport="sse",
        client={},
        created=time.time(),
    )
    await backend.create(record)
    priming_id = await backend.append(record.session_id, GET_STREAM, "")
    after = parse_event_id(priming_id)[1]  # type: ignore[index]
    root = scope.get("root_path", "")
    endpoint = f"{root}/messages/?session_id={record.session_id}"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/event-stream"),
                (b"cache-control", b"no-cache, no-transform"),
                (b"x-accel-buffering", b"no"),
            ],
        }
    )
    try:
        await send({"type": "http.response.body", "body": _event("endpoint", endpoint), "more_body": True})
    except Exception:  # the client went away at once
        reason = "client disconnected"
    else:
        reason = await pump_events(
            backend=backend,
            session_id=record.session_id,
            stream_id=GET_STREAM,
            after=after,
            receive=receive,
            send=send,
            render=lambda _event_id, data: _event("message", data),
            keep_going=slot.refresh,
        )
    if reason == "client disconnected":
        # The client closed its stream: a 2024-11-05 session cannot be resumed, so it ends now.
        # (Ended by the server — draining, an outage — it lives on until its idle window passes.)
        with anyio.CancelScope(shield=True):
            await resource_updates.session_ending(record.session_id)
            try:
                await backend.delete(record.session_id)
            except Exception as exc:
                logger.warning("SSE session %s… not deleted (it expires): %r", record.session_id[:8], exc)


def _event(name: str, data: str) -> bytes:
    lines = [f"event: {name}"] + [f"data: {line}" for line in (data.splitlines() or [""])]
    return ("\n".join(lines) + "\n\n").encode()


async def handle_message(scope: dict, receive: Any, send: Any, ctx: OrgContext, body: bytes) -> None:
    if scope["method"] != "POST":
        await json_error(send, 405, "Method not allowed", headers={"allow": "POST"})
        return
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    session_id = (query.get("session_id") or [None])[0]
    if not session_id:
        await json_error(send, 400, "session_id is required")
        return
    backend = get_backend()
    record = await backend.get(session_id)
    if record is None or record.credential != ctx.credential_id or record.transport != "sse":
        await json_error(send, 404, "Could not find session")
        return
    try:
        message: JSONRPCMessage = jsonrpc_message_adapter.validate_json(body)
    except ValidationError as exc:
        is_json = not any(e.get("type") == "json_invalid" for e in exc.errors())
        text = "Invalid JSON-RPC message" if is_json else "Parse error: the body is not JSON"
        await json_error(send, 400, text, code=-32600 if is_json else -32700)
        return

    # Accepted at once, like the SDK's own SSE transport; the answer travels on the stream.
    await send_json(send, 202, {"status": "accepted"})

    async def emit(outgoing: JSONRPCMessage) -> None:
        await backend.append(
            session_id, GET_STREAM, outgoing.model_dump_json(by_alias=True, exclude_unset=True)
        )

    token = current_session.set(record)
    try:
        connection = await engine.serve_message(message, protocol_version=record.protocol_version, emit=emit)
    finally:
        current_session.reset(token)
    if isinstance(message, JSONRPCRequest) and message.method == "initialize" and connection.client_params:
        record.protocol_version = connection.protocol_version
        record.client = connection.client_params.client_info.model_dump(mode="json", exclude_none=True)
        await backend.create(record)
