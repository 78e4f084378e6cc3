"""``/mcp``: Streamable HTTP, every revision the SDK knows.

* ``MCP-Protocol-Version: 2026-07-28``: the SDK's single-exchange entry answers the POST on its
  own; no session. A version the gateway does not speak is a 400 naming the ones it does, on every
  method; refusals all carry a JSON-RPC body (``bodies.py``), and a 2025-03-26 session accepts
  JSON-RPC batches (``batches.py``).
* Handshake revisions (2025-03-26, 2025-06-18, 2025-11-25): ``initialize`` opens a session in the
  shared store; later POSTs, the GET stream and DELETE name it with ``Mcp-Session-Id`` and may
  land on any process. A session answers only the credential that opened it.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from typing import Any

import anyio
from mcp.server._streamable_http_modern import handle_modern_request
from mcp.server.runner import ServerRunner
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp_types import JSONRPCMessage, jsonrpc_message_adapter
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import ValidationError

from omni.gateway import batches, bodies, engine, observing, quotas, resource_updates
from omni.gateway.http import header, json_error, jsonrpc_refusals, replay_body
from omni.gateway.server import gateway_server
from omni.gateway.sessions import (
    GET_STREAM,
    SessionRecord,
    current_session,
    get_backend,
    new_session_id,
    parse_event_id,
)
from omni.gateway.streams import StreamSlot, end_body, pump_events, sse_event
from omni.tenants.context import OrgContext

logger = logging.getLogger(__name__)

STREAM_CLAIM_TTL = 30


async def handle(scope: dict, receive: Any, send: Any, ctx: OrgContext, body: bytes) -> None:
    method = scope["method"]
    session_id = header(scope, MCP_SESSION_ID_HEADER)
    version_header = header(scope, MCP_PROTOCOL_VERSION_HEADER)
    parsed = bodies.classify(body) if method == "POST" else bodies.Body("none")
    if version_header is not None and version_header not in bodies.SUPPORTED_VERSIONS:
        await bodies.refuse_version(send, version_header, parsed.request_id)
        return
    if method == "POST" and bodies.wrong_content_type(scope):
        await bodies.refuse_content_type(send)
        return
    send = jsonrpc_refusals(send)  # the SDK's own refusals (405, 406 …) with a JSON-RPC body too
    modern = version_header is not None and version_header not in HANDSHAKE_PROTOCOL_VERSIONS
    if modern and not (session_id is not None and method in ("GET", "DELETE")):
        # (A GET or DELETE naming a session belongs to that session, whatever the header says.)
        if parsed.kind == "batch":
            await bodies.refuse_batch(send, version_header)
            return
        observing.set_transport("single")
        await handle_modern_request(gateway_server, None, False, {}, scope, replay_body(body, receive), send)
        return

    parsed = bodies.checked(parsed)  # (the single-exchange entry validates envelopes itself)
    backend = get_backend()
    if method == "POST" and session_id is None:
        await _open_session(scope, receive, send, ctx, body, parsed)
        return
    if method not in ("POST", "GET", "DELETE"):
        await json_error(send, 405, "Method not allowed", headers={"allow": "GET, POST, DELETE"})
        return
    if session_id is None:
        await json_error(send, 400, "Bad Request: Missing session ID (send Mcp-Session-Id)")
        return

    record = await backend.get(session_id)
    if record is None or record.credential != ctx.credential_id or record.transport != "streamable_http":
        # Another credential's session answers exactly like an unknown one: no leak of existence.
        await json_error(send, 404, "Session not found")
        return

    if method == "POST":
        if parsed.kind == "invalid":
            await bodies.refuse_invalid(send)
            return
        if parsed.kind == "batch" and record.protocol_version not in bodies.BATCH_REVISIONS:
            await bodies.refuse_batch(send, record.protocol_version)
            return
        limit = quotas.quota_for(ctx.organization, "history_bytes_per_session")
        if await backend.history_bytes(session_id) >= limit:
            await quotas.refuse(send, ctx, "history_bytes_per_session", limit, scope["path"], body)
            return
        token = current_session.set(record)
        try:
            if parsed.kind == "batch":
                await batches.serve_batch(
                    scope, receive, send, record=record, backend=backend, items=parsed.value
                )
                return
            await engine.serve_http_request(
                session_id=session_id,
                protocol_version=record.protocol_version,
                backend=backend,
                scope=scope,
                receive=replay_body(body, receive),
                send=send,
                body=body,
            )
        finally:
            current_session.reset(token)
    elif method == "GET":
        await _stream(scope, receive, send, record, ctx)
    else:
        await resource_updates.session_ending(session_id)
        await backend.delete(session_id)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})


def _initialize_params(body: bytes) -> dict | None:
    """The params of an ``initialize`` request body, or None when the body is anything else."""
    try:
        message = jsonrpc_message_adapter.validate_json(body)
    except (ValidationError, ValueError):
        return None
    if getattr(message, "method", None) != "initialize" or getattr(message, "id", None) is None:
        return None
    params = getattr(message, "params", None)
    return params if isinstance(params, dict) else None


async def _open_session(
    scope: dict, receive: Any, send: Any, ctx: OrgContext, body: bytes, parsed: bodies.Body
) -> None:
    if parsed.kind == "batch":
        await json_error(
            send, 400, "Invalid Request: a session opens with initialize alone, not a JSON-RPC batch"
        )
        return
    if parsed.kind == "invalid":
        await bodies.refuse_invalid(send)
        return
    params = _initialize_params(body)
    if params is None and _is_non_initialize_message(body):
        await json_error(send, 400, "Bad Request: Missing session ID (only initialize may open a session)")
        return
    try:
        init, negotiated = ServerRunner._negotiate_initialize(params) if params is not None else (None, None)
    except ValidationError:
        init, negotiated = None, None
    if init is None or negotiated is None:
        # Malformed JSON, batches, invalid envelopes or initialize params: the SDK transport
        # answers with its own errors, and no session is opened.
        await engine.serve_http_request(
            session_id=None,
            protocol_version="2025-03-26",
            backend=None,
            scope=scope,
            receive=replay_body(body, receive),
            send=send,
        )
        return

    backend = get_backend()
    if not await quotas.check_new_session(backend, ctx, send, scope["path"], body):
        return
    record = SessionRecord(
        session_id=new_session_id(),
        org_id=ctx.org_id,
        credential=ctx.credential_id,
        protocol_version=negotiated,
        transport="streamable_http",
        client=init.client_info.model_dump(mode="json", exclude_none=True),
        created=time.time(),
    )
    # Stored before the answer leaves: the client's next request may reach another process.
    await backend.create(record)
    await engine.serve_http_request(
        session_id=record.session_id,
        protocol_version=negotiated,
        backend=backend,
        scope=scope,
        receive=replay_body(body, receive),
        send=send,
        body=body,
    )


def _is_non_initialize_message(body: bytes) -> bool:
    try:
        message: JSONRPCMessage = jsonrpc_message_adapter.validate_json(body)
    except (ValidationError, ValueError):
        return False
    return getattr(message, "method", None) != "initialize"


async def _stream(scope: dict, receive: Any, send: Any, record: SessionRecord, ctx: OrgContext) -> None:
    """The session's standalone SSE stream (or the resumption of a request stream)."""
    accept = header(scope, "accept") or ""
    if "text/event-stream" not in accept and "*/*" not in accept:
        await json_error(send, 406, "Not Acceptable: Client must accept text/event-stream")
        return
    backend = get_backend()
    stream_id, after = GET_STREAM, None
    last_event_id = header(scope, "last-event-id")
    if last_event_id:
        parsed = parse_event_id(last_event_id)
        if parsed is not None:
            stream_id, after = parsed

    slot = StreamSlot(backend, ctx.credential_id, ctx.org_id)
    refused = await slot.acquire(quotas.stream_limits(ctx))
    if refused is not None:
        await quotas.refuse(send, ctx, refused, quotas.quota_for(ctx.organization, refused), scope["path"])
        return
    try:
        await _serve_stream(scope, receive, send, record, backend, stream_id, after, slot)
    finally:
        await slot.release()


async def _serve_stream(
    scope: dict,
    receive: Any,
    send: Any,
    record: SessionRecord,
    backend: Any,
    stream_id: str,
    after: str | None,
    slot: StreamSlot,
) -> None:
    token = uuid.uuid4().hex
    # A client resuming with Last-Event-ID takes the stream over: its previous connection is gone.
    takeover = after is not None
    if stream_id == GET_STREAM and not await backend.claim_stream(
        record.session_id, token, STREAM_CLAIM_TTL, force=takeover
    ):
        await json_error(send, 409, "Conflict: Only one SSE stream is allowed per session")
        return

    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/event-stream"),
                (b"cache-control", b"no-cache, no-transform"),
                (b"x-accel-buffering", b"no"),
                (MCP_SESSION_ID_HEADER.encode(), record.session_id.encode()),
            ],
        }
    )
    if after is None:
        # The priming event fixes the stream position (nothing published from now on is missed);
        # it is sent only to clients that understand an event with empty data (2025-11-25+).
        try:
            priming_id = await backend.append(record.session_id, GET_STREAM, "")
            after = parse_event_id(priming_id)[1]  # type: ignore[index]
            if record.protocol_version >= "2025-11-25":
                await send(
                    {"type": "http.response.body", "body": sse_event(priming_id, "", None), "more_body": True}
                )
        except Exception as exc:  # the response started: end it cleanly, never raise
            logger.warning("GET stream of session %s… not started: %r", record.session_id[:8], exc)
            await end_body(send)
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await backend.release_stream(record.session_id, token)
            return

    async def still_mine() -> bool:
        await slot.refresh()
        if stream_id != GET_STREAM:
            return True
        # Refreshing the claim fails when a resuming connection took the stream over.
        return await backend.claim_stream(record.session_id, token, STREAM_CLAIM_TTL)

    try:
        await pump_events(
            backend=backend,
            session_id=record.session_id,
            stream_id=stream_id,
            after=after,
            receive=receive,
            send=send,
            render=sse_event,
            stop_on_response=stream_id != GET_STREAM,  # a resumed request stream ends with its response
            keep_going=still_mine,
        )
    finally:
        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
            await backend.release_stream(record.session_id, token)
