"""Running the gateway's SDK server for one HTTP request of a (possibly shared) session.

The SDK keeps a handshake session as a long-lived in-memory task; the gateway instead keeps the
session's facts in the shared store (``sessions.py``) and, for each request, runs the SDK's own
JSON-RPC dispatcher and server kernel over a *born-ready* connection carrying the negotiated
version. Every process can therefore serve every request of every session.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from anyio.abc import TaskStatus
from django.conf import settings
from mcp.server.connection import Connection
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.runner import serve_connection
from mcp.server.streamable_http import EventMessage, EventStore, StreamableHTTPServerTransport
from mcp.shared._context_streams import create_context_streams
from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher
from mcp.shared.message import SessionMessage
from mcp.shared.transport_context import TransportContext
from mcp_types import JSONRPCError, JSONRPCMessage, JSONRPCRequest, JSONRPCResponse, jsonrpc_message_adapter

from omni.gateway.server import gateway_server
from omni.gateway.sessions import SessionBackend, make_event_id, parse_event_id

logger = logging.getLogger(__name__)

INIT_OPTIONS = gateway_server.create_initialization_options(
    NotificationOptions(prompts_changed=True, resources_changed=True, tools_changed=True)
)


class SessionEventStore(EventStore):
    """The SDK's EventStore interface over the shared session backend, bound to one session.

    Storing never raises: the SDK's message router dies on an exception from the store, and the
    request would then never be answered while pings keep the client waiting. When the store is
    unreachable the event still goes out, only without replay (a made-up, unstored event id)."""

    def __init__(self, backend: SessionBackend, session_id: str) -> None:
        self.backend = backend
        self.session_id = session_id
        self.failures = 0

    async def store_event(self, stream_id: str, message: JSONRPCMessage | None) -> str:
        data = "" if message is None else message.model_dump_json(by_alias=True, exclude_unset=True)
        try:
            return await self.backend.append(self.session_id, stream_id, data)
        except Exception as exc:
            self.failures += 1
            logger.warning("event of stream %s not stored (delivered without replay): %r", stream_id, exc)
            return make_event_id(stream_id, f"0-{uuid.uuid4().int % 10**9}")

    async def replay_events_after(
        self, last_event_id: str, send_callback: Callable[[EventMessage], Awaitable[None]]
    ) -> str | None:
        parsed = parse_event_id(last_event_id)
        if parsed is None:
            return None
        stream_id, position = parsed
        for event_id, data in await self.backend.read(self.session_id, stream_id, position, 0):
            if data:
                await send_callback(EventMessage(jsonrpc_message_adapter.validate_json(data), event_id))
        return stream_id


def _transport_context(_metadata: Any) -> TransportContext:
    # One HTTP request, no long-lived back-channel: server-initiated requests are refused, while
    # request-scoped notifications (progress, log messages) still ride the POST's SSE stream.
    return TransportContext(kind="streamable-http", can_send_request=False)


async def serve_http_request(
    *,
    session_id: str | None,
    protocol_version: str,
    backend: SessionBackend | None,
    scope: dict,
    receive: Callable,
    send: Callable,
    on_initialized: Callable[[Connection], Awaitable[None]] | None = None,
    body: bytes = b"",
) -> None:
    """Answer one Streamable HTTP POST with the SDK transport, in the given session.

    A request (``body`` with an id) in a session holds an owner lease in the store while it runs,
    so a client resuming its stream on another process learns promptly when this process died;
    once the answer went out, the request stream is dropped or kept only briefly
    (``MCP_DELIVERED_STREAM_SECONDS``)."""
    event_store = SessionEventStore(backend, session_id) if (backend and session_id) else None
    transport = StreamableHTTPServerTransport(mcp_session_id=session_id, event_store=event_store)
    connection = Connection.from_envelope(protocol_version, None, None)

    async def run_server(*, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with transport.connect() as (read_stream, write_stream):
            task_status.started()
            dispatcher: JSONRPCDispatcher[TransportContext] = JSONRPCDispatcher(
                read_stream,
                write_stream,
                inline_methods=frozenset({"initialize"}),
                transport_builder=_transport_context,
            )
            try:
                await serve_connection(
                    gateway_server,
                    dispatcher,
                    connection=connection,
                    lifespan_state={},
                    init_options=INIT_OPTIONS,
                )
            except Exception:
                logger.exception("gateway request crashed")

    request_id = _request_id_of(body) if event_store is not None else None
    stream_id = str(json.loads(request_id)) if request_id is not None else None

    async with anyio.create_task_group() as tg:
        await tg.start(run_server)
        lease: anyio.CancelScope | None = None
        if stream_id is not None:
            lease = await tg.start(_hold_lease, backend, session_id, stream_id, request_id)
        try:
            await transport.handle_request(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                if lease is not None:
                    lease.cancel()
                await transport.terminate()
                if stream_id is not None:
                    with contextlib.suppress(Exception):
                        await backend.finish_request(  # type: ignore[union-attr]
                            session_id, stream_id, settings.MCP_DELIVERED_STREAM_SECONDS
                        )
    if on_initialized is not None and connection.client_params is not None:
        await on_initialized(connection)


def _request_id_of(body: bytes) -> str | None:
    """The JSON of the id of a single JSON-RPC request in ``body`` (None for anything else)."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
        return None
    if not isinstance(message, dict) or "method" not in message:
        return None
    request_id = message.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, int | str):
        return None
    return json.dumps(request_id)


async def _hold_lease(
    backend: SessionBackend,
    session_id: str,
    stream_id: str,
    request_id: str,
    *,
    task_status: TaskStatus[anyio.CancelScope] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Take the request's owner lease and refresh it until cancelled (errors only logged: a lapsed
    lease makes a resuming client give up early, it never breaks the request itself)."""
    ttl = settings.MCP_REQUEST_LEASE_SECONDS
    with anyio.CancelScope() as scope:
        try:
            await backend.lease_request(session_id, stream_id, request_id, ttl)
        except Exception as exc:
            logger.warning("request lease of stream %s not taken: %r", stream_id, exc)
        task_status.started(scope)
        while True:
            await anyio.sleep(ttl / 3)
            try:
                await backend.lease_request(session_id, stream_id, request_id, ttl)
            except Exception as exc:
                logger.warning("request lease of stream %s not refreshed: %r", stream_id, exc)


async def serve_message(
    message: JSONRPCMessage,
    *,
    protocol_version: str,
    emit: Callable[[JSONRPCMessage], Awaitable[None]],
    request_scope: dict | None = None,
) -> Connection:
    """Process one JSON-RPC message (the legacy SSE transport): every message the server sends
    in answer — notifications, then the response — goes to ``emit``. Returns the connection
    (after an ``initialize`` it holds the negotiated version and client info)."""
    read_writer, read_stream = create_context_streams[SessionMessage | Exception](1)
    write_stream, write_reader = create_context_streams[SessionMessage](0)
    connection = Connection.from_envelope(protocol_version, None, None)
    expects_response = isinstance(message, JSONRPCRequest)

    async def run_server() -> None:
        dispatcher: JSONRPCDispatcher[TransportContext] = JSONRPCDispatcher(
            read_stream,
            write_stream,
            inline_methods=frozenset({"initialize"}),
            transport_builder=lambda _md: TransportContext(kind="sse", can_send_request=False),
        )
        try:
            await serve_connection(
                gateway_server,
                dispatcher,
                connection=connection,
                lifespan_state={},
                init_options=INIT_OPTIONS,
            )
        except Exception:
            logger.exception("gateway message crashed")

    async with anyio.create_task_group() as tg:
        tg.start_soon(run_server)
        await read_writer.send(SessionMessage(message))
        if expects_response:
            async for outgoing in write_reader:
                await emit(outgoing.message)
                if isinstance(outgoing.message, JSONRPCResponse | JSONRPCError) and (
                    outgoing.message.id == message.id
                ):
                    break
        else:
            # A notification has no answer; give the dispatcher a moment to run its handler.
            await anyio.sleep(0)
        await read_writer.aclose()
        tg.cancel_scope.cancel()
    return connection
